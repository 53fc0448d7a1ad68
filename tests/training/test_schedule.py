import pytest

from nestling.errors import UserError
from nestling.models import build_model
from nestling.recipe import section
from nestling.training.optim import build_optimizer
from nestling.training.schedule import build_schedule, wsd_phases
from tests.training.helpers import TINY_LLAMA, VOCAB


def test_wsd_phases_sum_to_total():
    assert wsd_phases(1000, 0.01, 0.15) == (10, 840, 150)
    assert sum(wsd_phases(7, 0.1, 0.2)) == 7
    with pytest.raises(UserError, match="sum to <= 1"):
        wsd_phases(10, 0.6, 0.6)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_wsd_shape_on_both_optimizers():
    model = build_model(TINY_LLAMA, VOCAB, 0, 1, 2)
    opt = build_optimizer(model, section("optimizer", name="muon_adamw", muon_lr=1e-2, adamw_lr=1e-3))
    sched = build_schedule(opt, section("schedule", warmup_fraction=0.1, decay_fraction=0.2, decay_type="linear"), 100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.lrs())
        sched.step()
    muon = [x["muon"] for x in lrs]
    adamw = [x["adamw"] for x in lrs]
    # Both follow one shape relative to their own peak.
    assert all(abs(m / 1e-2 - a / 1e-3) < 1e-12 for m, a in zip(muon, adamw))
    assert muon[0] == 0.0 and all(b > a for a, b in zip(muon[:10], muon[1:11]))  # warmup rises
    assert all(m == pytest.approx(1e-2) for m in muon[10:81])  # stable at the peak
    assert all(b < a for a, b in zip(muon[80:99], muon[81:100]))  # linear decay
    assert muon[90] == pytest.approx(0.5e-2)
    assert sched.phases == {"warmup": 10, "stable": 70, "decay": 20}
