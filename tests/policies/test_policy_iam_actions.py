"""The IAM action catalogue the pack judges grants with (policies/support/iam_actions.py) is parliament's, read from
its data file without importing it."""

from __future__ import annotations

import subprocess
import sys

from policies.support import iam_actions


def test_the_catalogue_is_the_one_parliament_loads():
    import parliament

    assert iam_actions.iam_definition() == parliament.iam_definition
    assert "s3:getobject" in iam_actions.expand("s3:Get*")


def test_judging_a_grant_does_not_import_parliament():
    probe = "import sys; from policies.support import iam_actions; iam_actions.expand('s3:*'); print('parliament' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
