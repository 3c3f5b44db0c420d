import pytest

import sharding
from sharding import Shard, ShardError


@pytest.mark.parametrize("environ, shard", [
    ({}, Shard(0, 1)),
    ({"SHARD_INDEX": "2", "SHARD_COUNT": "4"}, Shard(2, 4)),
    ({"SWARM_TASK_SLOT": "2", "SHARD_COUNT": "3"}, Shard(2, 3)),
    ({"SWARM_TASK_SLOT": "p530jzauz5jy35lgyacolurlp", "SHARD_COUNT": "3"}, Shard(0, 3)),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "7", "SHARD_COUNT": "8"}, Shard(7, 8)),
    ({"JOB_COMPLETION_INDEX": "0", "SHARD_COUNT": "2"}, Shard(0, 2)),
    ({"AWS_BATCH_JOB_ID": "3f2a-41c9:2", "SHARD_COUNT": "3"}, Shard(2, 3)),
    ({"AWS_BATCH_JOB_ID": "3f2a-41c9", "SHARD_COUNT": "1"}, Shard(0, 1)),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "1", "AWS_BATCH_JOB_ID": "3f2a-41c9:1", "SHARD_COUNT": "2"}, Shard(1, 2)),
], ids=["single", "local", "swarm-slot", "swarm-slot-0-as-node-id", "aws-batch", "kubernetes",
        "aws-batch-child-id-only", "aws-batch-single-job", "aws-batch-both"])
def test_each_engine_tells_the_shard_its_place(environ, shard):
    assert sharding.from_environment(environ) == shard


@pytest.mark.parametrize("environ, message", [
    ({"SHARD_INDEX": "4", "SHARD_COUNT": "4"}, "does not fit SHARD_COUNT=4"),
    ({"SWARM_TASK_SLOT": "2", "SHARD_COUNT": "2"}, "shard index 2 does not fit"),
    ({"SHARD_COUNT": "many"}, "SHARD_COUNT='many' is not a whole number"),
    ({"SHARD_INDEX": "x", "SHARD_COUNT": "2"}, "SHARD_INDEX='x'"),
])
def test_shards_that_do_not_add_up(environ, message):
    with pytest.raises(ShardError, match=message):
        sharding.from_environment(environ)


@pytest.mark.parametrize("total, count", [(10, 3), (569, 4), (2, 5), (0, 2)])
def test_the_slices_cover_every_row_once(total, count):
    covered = [row for index in range(count) for row in Shard(index, count).rows(total)]
    assert covered == list(range(total))


def test_parts_are_found_in_order_and_gaps_reported(tmp_path):
    for index in (2, 0, 1):
        (tmp_path / Shard(index, 3).part_name).write_text("x\n")
    assert [p.name for p in sharding.find_parts(tmp_path)] == [f"part-0000{i}-of-00003.csv" for i in range(3)]
    (tmp_path / "part-00001-of-00003.csv").unlink()
    with pytest.raises(ShardError, match="1 of 3 parts are missing \\(shards 1\\)"):
        sharding.find_parts(tmp_path)
    (tmp_path / "part-00000-of-00002.csv").write_text("x\n")
    with pytest.raises(ShardError, match="different shard counts"):
        sharding.find_parts(tmp_path)


def test_no_parts_at_all(tmp_path):
    with pytest.raises(ShardError, match="no part-"):
        sharding.find_parts(tmp_path)
