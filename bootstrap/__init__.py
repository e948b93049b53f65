"""The bootstrap: a small Pulumi program of its own (bootstrap/Pulumi.yaml, project `crucible-bootstrap`) that creates
what Crucible's delivery pipeline needs in an AWS account, once, before any Crucible stack:

- the GitHub Actions OIDC provider (token.actions.githubusercontent.com), or an existing one;
- one deploy role per environment (dev, staging, prod), assumable only by this repository's jobs in that GitHub
  environment (StringEquals aud=sts.amazonaws.com, sub=repo:<owner>/<repo>:environment:<env>), with the rights to
  create what Crucible creates and nothing over the delivery identities, the state or its keys; IAM roles only with
  the platform permissions boundary;
- the platform permissions boundary (policy/crucible-boundary/crucible-platform-boundary, bootstrap/boundary.py),
  which every role of every stack carries (`crucible:permissionsBoundary`);
- one read-only preview role per environment, crucible-preview-<env> (sub=repo:<owner>/<repo>:environment:preview-<env>):
  describe, read that environment's state prefix, decrypt that environment's secrets key and take its stack lock —
  never another environment's state or secrets;
- the state bucket (versioned, SSE-KMS with its own key, TLS-only, public access blocked, protected), one prefix per
  environment (`s3://<bucket>/<env>`), its server access logs in an SSE-S3 log bucket of its own, and the KMS key of
  one secrets provider per environment (`awskms://alias/crucible-secrets-<env>`).

Why a separate program and not a layer of the main one: it has another lifetime (once per account), another
operator (an account administrator, not CI), another state (the local backend: it creates the remote one) and must
never be changed by the roles it creates — a layer of the main program would be deployed by the very deploy role
whose trust and rights it defines. It also keeps its few settings out of the platform's spec. It plans offline
through the same harness and policy pack as every stack: `crucible plan bootstrap`.
"""
