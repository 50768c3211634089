"""The hostile-device fuzzer (embbert_mcu.device.fuzz), bounded to seconds: every case ends
in a typed device error within its time limit. `make fuzz` runs it for longer."""

from __future__ import annotations

from embbert_mcu.device import fuzz


def test_the_fake_device_speaks_the_real_protocol():
    # Never hostile: the real link and bench code complete a whole session against it.
    session = fuzz.play(fuzz.Session("honest", fuzz.N_REQUESTS + 1, 0), 0.5, 10.0)
    assert session.outcome == "no error"


def test_every_hostile_case_ends_in_a_typed_error():
    sessions = fuzz.fuzz(seconds=4.0, seed=13, timeout_s=0.2)
    assert {s.case for s in sessions} == set(fuzz.CASES)
    bad = fuzz.findings(sessions)
    assert not bad, [(s.case, s.target, s.seed, s.outcome) for s in bad]
    summary = fuzz.summary(sessions)
    assert "findings 0" in summary and "hang" not in summary
