from nestling.mixing.simulate import format_simulation, run_simulation, starved

EXP3_MIN = 0.10 + 0.7 * 0.1 / 3  # floor + (1 - K f) * gamma / K: the least EXP3 gives any language


def test_v1_starves_the_hardest_language(prior_record, tmp_path):
    result = run_simulation("v1", rounds=120, seed=0, out_dir=tmp_path)
    assert result["hardest"] == "zho"
    final = result["final_pi"]
    assert final["zho"] < EXP3_MIN + 0.01  # driven to the floor
    assert final["zho"] < min(final["eng"], final["nld"])
    assert (tmp_path / "simulate_v1.png").stat().st_size > 1000
    assert (tmp_path / "simulate_v1.json").is_file()
    text = format_simulation(result)
    assert "final pi:" in text and "pi_zho" in text and str(tmp_path) in text


def test_v2_keeps_the_hardest_language_fed(prior_record):
    result = run_simulation("cross_lingual_deficit", rounds=120, seed=0)
    final = result["final_pi"]
    assert final["zho"] > 0.5 and final["zho"] > result["pi_0"]["zho"]
    share = result["exposures"]["zho"] / sum(result["exposures"].values())
    assert share > 0.5


def test_simulation_is_deterministic(prior_record):
    a = run_simulation("v1", rounds=30, seed=4)
    b = run_simulation("v1", rounds=30, seed=4)
    assert a["final_pi"] == b["final_pi"] and a["exposures"] == b["exposures"]


def test_cli_prints_a_table(prior_record, tmp_path, capsys):
    from nestling.cli import main

    main(["mix", "simulate", "--reward", "v2", "--rounds", "20", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "final pi:" in out and "reward v2" in out
    assert (tmp_path / "simulate_v2.png").is_file()


def test_the_simulator_says_v1_starves_the_hardest_language_and_v2_does_not(prior_record):
    # docs/taam-v1-starvation.md: the command and its default 300 rounds.
    v1, v2 = run_simulation("v1", seed=0), run_simulation("v2", seed=0)
    assert v1["least_pi"] == EXP3_MIN
    assert "zho" in starved(v1) and "zho" not in starved(v2)
    assert "hardest language zho: starved" in format_simulation(v1)
    assert "hardest language zho: not starved" in format_simulation(v2)
    share = {r["reward"]: r["exposures"]["zho"] / sum(r["exposures"].values()) for r in (v1, v2)}
    assert share["v1"] < 0.2 < 0.7 < share["v2"]
