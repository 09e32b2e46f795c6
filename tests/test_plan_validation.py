"""Invalid plans fail at construction with ValueError naming the field and value."""

import pytest
import yaml

from speechbrain_tinyconf import SharedConformerEncoder, SharingPlan

CFG = dict(num_layers=6, d_model=32, d_ffn=64, nhead=4, kernel_size=5)

INVALID = [
    ({"unique_blocks": 4}, r"sharing\.unique_blocks=4 does not divide num_layers=6"),
    ({"unique_blocks": 0}, r"sharing\.unique_blocks=0"),
    ({"order": "cycle"}, r"sharing\.order='cycle' is contradictory"),
    ({"unique_blocks": 2, "order": "zigzag"}, r"sharing\.order='zigzag'"),
    ({"share_modules": {"ffm": "all"}}, r"sharing\.share_modules: unknown module 'ffm'"),
    ({"share_modules": {"conv": 4}}, r"sharing\.share_modules\.conv=4 does not divide"),
    ({"share_modules": {"conv": 0}}, r"sharing\.share_modules\.conv=0"),
    ({"unique_blocks": 3, "share_modules": {"ffn": 2}}, r"sharing\.share_modules\.ffn=2 does not divide the number of unique blocks \(3\)"),
    ({"tie_macaron": "third"}, r"sharing\.tie_macaron='third'"),
    ({"per_layer": ["norms", "gates"]}, r"sharing\.per_layer: unknown part 'gates'"),
    ({"per_layer": "norms"}, r"sharing\.per_layer='norms'"),
    ({"per_layer": ["attention_out"]}, r"sharing\.per_layer=\['attention_out'\] is contradictory"),
    ({"shared_ffn": True}, r"sharing: unknown field 'shared_ffn'"),
    ({"low_rank": {"targets": ["ffn"], "rnak": 4}}, r"sharing\.low_rank: unknown field 'rnak'"),
    ({"low_rank": {"targets": ["mlp"], "rank": 4}}, r"sharing\.low_rank\.targets: unknown module 'mlp'"),
    ({"low_rank": {"targets": ["ffn"], "rank": 40}}, r"sharing\.low_rank\.rank\.ffn=40"),
    ({"low_rank": {"targets": ["attention"], "rank": 33}}, r"sharing\.low_rank\.rank\.attention=33"),
    ({"low_rank": {"targets": ["conv"], "rank": 0}}, r"sharing\.low_rank\.rank\.conv=0"),
    ({"low_rank": {"targets": [], "share": "U"}}, r"sharing\.low_rank\.share='U' is contradictory"),
    ({"low_rank": {"targets": ["ffn"], "rank": 4, "share": "W"}}, r"sharing\.low_rank\.share='W'"),
    ({"low_rank": {"targets": ["ffn"], "rank": 4, "share": "U", "share_group": 4}}, r"sharing\.low_rank\.share_group=4 does not divide"),
    ({"low_rank": {"targets": ["ffn", "conv"], "rank": {"ffn": 4}}}, r"sharing\.low_rank\.rank: no rank given for target 'conv'"),
    ({"low_rank": {"targets": ["ffn"], "rank": {"ffn": 4, "conv": 4}}}, r"sharing\.low_rank\.rank\.conv is contradictory"),
]


@pytest.mark.parametrize("plan,message", INVALID)
def test_invalid_plan_raises(plan, message):
    with pytest.raises(ValueError, match=message):
        SharedConformerEncoder(**CFG, sharing=plan)


def test_plan_from_yaml_mapping_round_trips():
    text = """
    unique_blocks: 3
    order: consecutive
    share_modules: {conv: all}
    tie_macaron: both
    per_layer: [norms, biases]
    low_rank: {targets: [ffn, conv], rank: {ffn: 16, conv: 8}, share: V, share_group: 3}
    """
    plan = SharingPlan.from_config(yaml.safe_load(text))
    plan.validate(6)
    assert plan.low_rank.rank_for("conv") == 8 and plan.low_rank.shares("V")
    assert SharingPlan.from_config(plan.to_dict()) == plan
    assert [plan.block_of(i, 6) for i in range(6)] == [0, 0, 1, 1, 2, 2]
    SharedConformerEncoder(**CFG, sharing=plan)  # and it builds
