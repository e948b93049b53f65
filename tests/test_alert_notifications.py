"""Alerts reach people (addons/alert_notifications.py): Alertmanager routes warning and critical alerts to an encrypted
SNS topic the alarm emails subscribe to, publishing as a Pod Identity role that may publish there only. Checked on the
prod plan and on the Alertmanager configuration the real chart renders from it (amtool checks it as Alertmanager
would load it)."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
import yaml

from addons.alert_notifications import (
    ALERTMANAGER_SERVICE_ACCOUNT,
    MESSAGE,
    NOTIFIED,
    POD_IDENTITY_ANNOTATION,
    RECEIVER,
    SUBJECT,
    SUBJECT_LIMIT,
    bounded,
    topic_name,
)
from addons.alerts import RULES_FILE
from helpers import plan, shipped_plan
from observability_data import amtool

RELEASE = "kubernetes:helm.sh/v3:Release"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


@pytest.fixture(scope="module")
def prod():
    return shipped_plan("prod").run


def _topic(run):
    (topic,) = [t for t in run.of_type("aws:sns/topic:Topic") if t.inputs["name"] == topic_name("prod")]
    return topic


def _rendered_config() -> dict:
    from rendered import objects, release_of

    rendered = release_of("prod", "kube-prometheus-stack")
    (secret,) = objects(rendered, "Secret", "alertmanager-kube-prometheus-stack-alertmanager")
    return yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"]))


def test_the_alerts_topic_is_encrypted_with_its_own_key(prod):
    topic = _topic(prod)
    (key,) = [k for k in prod.of_type("aws:kms/key:Key") if "Prometheus alerts" in k.inputs["description"]]
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"] and key.inputs["enableKeyRotation"] and key.protect


def test_each_alarm_email_subscribes_to_the_alerts_topic():
    emails = ["oncall@acme.example", "ml-platform@acme.example"]
    run = plan("prod", stack="prod", addons={"observability": {"enabled": True, "alarmEmails": emails}})
    topic = _topic(run)
    subscriptions = run.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert {s.inputs["endpoint"] for s in subscriptions if s.inputs["topic"] == topic.outputs["arn"]} == set(emails)


def test_alertmanager_publishes_as_a_role_that_may_publish_to_the_topic_only(prod):
    (association,) = [a for a in prod.of_type(ASSOCIATION) if a.inputs["serviceAccount"] == ALERTMANAGER_SERVICE_ACCOUNT]
    assert association.inputs["namespace"] == "monitoring"
    (policy,) = [p for p in prod.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.startswith("alert-notifications")]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert (statements["PublishAlerts"]["Action"], statements["PublishAlerts"]["Resource"]) == ("sns:Publish", _topic(prod).outputs["arn"])
    assert statements["EncryptAlerts"]["Resource"].startswith("arn:aws:kms:")


def test_the_monitoring_release_waits_for_alertmanagers_pod_identity_association(prod):
    # credentials are injected when the pod is created: an Alertmanager started before the association has none
    (association,) = [a for a in prod.of_type(ASSOCIATION) if a.inputs["serviceAccount"] == ALERTMANAGER_SERVICE_ACCOUNT]
    assert association.urn in prod.one(RELEASE, "monitoring").dependencies


def test_the_chart_runs_alertmanager_as_the_service_account_the_role_is_for():
    from rendered import objects, release_of

    (alertmanager,) = objects(release_of("prod", "kube-prometheus-stack"), "Alertmanager")
    assert alertmanager["spec"]["serviceAccountName"] == ALERTMANAGER_SERVICE_ACCOUNT


def test_the_rendered_configuration_sends_warning_and_critical_alerts_to_the_topic(prod):
    config = _rendered_config()
    (route,) = config["route"]["routes"]
    assert config["route"]["receiver"] == "null" and route["receiver"] == RECEIVER
    assert route["matchers"] == ['severity=~"warning|critical"']
    (receiver,) = [r for r in config["receivers"] if r["name"] == RECEIVER]
    (sns,) = receiver["sns_configs"]
    assert sns["topic_arn"] == _topic(prod).outputs["arn"] and sns["sigv4"] == {"region": "us-east-1"} and sns["send_resolved"]
    assert config["inhibit_rules"], "the chart's inhibit rules are kept (Helm merges the map)"


def test_alertmanager_accepts_the_rendered_configuration(tmp_path):
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(_rendered_config()))
    done = subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_crucible_alert_is_notified_but_the_informational_ones():
    # a severity the route does not name would fall to "null" unseen; info is the dashboards' (a team at its quota)
    severities = {r["alert"]: r["labels"]["severity"] for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert severities and set(severities.values()) <= {*NOTIFIED, "info"}
    assert [a for a, s in severities.items() if s == "info"] == ["KueueQuotaExhausted"]


def _render_template(text: str, tmp_path) -> str:
    """An Alertmanager template rendered by amtool (Alertmanager's own template functions, its example alert data)."""
    (tmp_path / "none.tmpl").write_text('{{ define "none" }}{{ end }}')
    done = subprocess.run(
        [amtool(), "template", "render", f"--template.glob={tmp_path}/*.tmpl", f"--template.text={text}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.rstrip("\n")


def test_the_subject_is_one_sns_accepts_however_long_the_labels(tmp_path):
    # SNS refuses a subject of 100 characters or more, or one outside printable ASCII; Alertmanager's default subject
    # (every common label value) is 140-odd characters for one alert and is sent untruncated
    long = bounded('printf "%s" "' + "é" * 3 + "GpuXidError " * 30 + '"')
    text = _render_template(long, tmp_path)
    assert len(text) == SUBJECT_LIMIT - 1 and text.isascii() and text.startswith("GpuXidError")
    subject = _render_template(SUBJECT, tmp_path)
    assert subject and len(subject) < SUBJECT_LIMIT and subject.isascii() and "\n" not in subject


def test_the_message_renders_and_lists_at_most_twenty_alerts(tmp_path):
    assert "alert(s)" in _render_template(MESSAGE, tmp_path)
    assert "lt $i 20" in MESSAGE  # a fleet-wide group of a node-level alert stays far under SNS's 256 KiB


def test_the_rendered_receiver_uses_the_bounded_subject_and_the_short_message():
    (receiver,) = [r for r in _rendered_config()["receivers"] if r["name"] == RECEIVER]
    (sns,) = receiver["sns_configs"]
    assert (sns["subject"], sns["message"]) == (SUBJECT, MESSAGE)


def test_alertmanagers_pod_carries_its_pod_identity_association_so_the_operator_rolls_it(prod):
    # credentials are injected at pod creation, and a changed config alone is reloaded in place: on a stack already
    # running Alertmanager the pod must be recreated once the association exists
    from rendered import objects, release_of

    (association,) = [a for a in prod.of_type(ASSOCIATION) if a.inputs["serviceAccount"] == ALERTMANAGER_SERVICE_ACCOUNT]
    release = prod.one(RELEASE, "monitoring")
    planned = release.inputs["values"]["alertmanager"]["alertmanagerSpec"]["podMetadata"]["annotations"][POD_IDENTITY_ANNOTATION]
    assert association.urn in release.property_dependencies["values"]  # the value is the association's id
    (alertmanager,) = objects(release_of("prod", "kube-prometheus-stack"), "Alertmanager")
    assert planned and alertmanager["spec"]["podMetadata"]["annotations"][POD_IDENTITY_ANNOTATION] == planned
