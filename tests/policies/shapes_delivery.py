"""Shapes of CI trust misconfigurations: SEC-CICD-001 ... 004 (roles GitHub Actions assumes)."""

from __future__ import annotations

from shapes import firing
from test_policy_delivery import AUD, GITHUB, SUB, role

ENV = "repo:acme/crucible:environment:prod"
P1, P2, P3 = "sec-cicd-001-github-oidc-audience", "sec-cicd-002-github-oidc-repository", "sec-cicd-003-github-oidc-environment"
P4 = "sec-cicd-004-github-oidc-one-environment"


@firing(P1, "audience-missing")
def _():
    return [role("no-aud", {"StringEquals": {SUB: ENV}})], ["no-aud"]


@firing(P1, "audience-other")
def _():
    return [role("other-aud", {"StringEquals": {AUD: "https://github.com/acme", SUB: ENV}})], ["other-aud"]


@firing(P1, "audience-pattern")
def _():
    return [role("like-aud", {"StringLike": {AUD: "sts.*"}, "StringEquals": {SUB: ENV}})], ["like-aud"]


@firing(P2, "repository-wildcard")
def _():
    return [role("org", {"StringLike": {AUD: "sts.amazonaws.com", SUB: "repo:acme/*"}})], ["org"]


@firing(P2, "owner-wildcard")
def _():
    return [role("everyone", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:*:environment:prod"}})], ["everyone"]


@firing(P2, "subject-missing")
def _():
    return [role("no-sub", {"StringEquals": {AUD: "sts.amazonaws.com"}})], ["no-sub"]


@firing(P2, "string-like-without-wildcard")
def _():
    return [role("like", {"StringEquals": {AUD: "sts.amazonaws.com"}, "StringLike": {SUB: ENV}})], ["like"]


@firing(P3, "branch")
def _():
    return [role("branch", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/crucible:ref:refs/heads/main"}})], ["branch"]


@firing(P3, "pull-request")
def _():
    return [role("pr", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/crucible:pull_request"}})], ["pr"]


@firing(P3, "every-environment")
def _():
    return [role("any-env", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/crucible:environment:*"}})], ["any-env"]


@firing(P4, "every-environment-listed")
def _():
    subjects = [f"repo:acme/crucible:environment:{e}" for e in ("preview-dev", "preview-staging", "preview-prod")]
    return [role("shared-preview", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: subjects}})], ["shared-preview"]


@firing(P4, "another-environment-than-its-own")
def _():
    found = role("preview-dev", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/crucible:environment:preview-prod"}}, environment="preview-dev")
    return [found], ["preview-dev"]


@firing(P4, "its-deploy-environment")
def _():
    found = role("preview-prod", {"StringEquals": {AUD: "sts.amazonaws.com", SUB: ENV}}, environment="preview-prod")
    return [found], ["preview-prod"]


__all__ = ["GITHUB"]
