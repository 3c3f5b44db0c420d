"""The sample job in its image, for real: it trains, then scores in shards that the tasks merge.

The tasks' own tests run a job of their own (tests/integration/fixture_job/); this one is the
sample's, like the rest of tests/job/: replace it with a test of your job in its image.
"""

import pytest

from tests.integration.conftest import engine, make_project  # noqa: F401 (fixtures)

pytestmark = pytest.mark.docker


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_sample_trains_and_scores_in_shards_in_its_image(make_project):  # noqa: F811
    import pandas as pd

    project = make_project(sample=True)
    ok(project.inv("build", "--check"))
    assert "train finished" in ok(project.inv("run", "--", "train", "--n-estimators", "10")).stdout
    ok(project.inv("run", "--shards", "2"))
    merged = pd.read_csv(project.root / "output" / "predictions-merged.csv")
    assert len(merged) == 569  # scikit-learn's breast-cancer data set, every row scored once
