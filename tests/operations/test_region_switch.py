"""This region's switch (chalicelib/tasks/region.py): read at most once per CACHE_SECONDS, a flip on another
instance seen within that time, the last state kept when the store cannot be read; and its local file."""

from __future__ import annotations

import pytest

from chalicelib.errors import RegionSwitchUnavailable
from chalicelib.operations.files import FILE_NAME
from chalicelib.operations.files import FileRegionSwitch
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from chalicelib.tasks.region import CACHE_SECONDS
from chalicelib.tasks.region import CachedSwitch
from chalicelib.vocabulary import REGION_FAILED
from chalicelib.vocabulary import REGION_SERVING


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingSwitch:
    def __init__(self, state: str = REGION_SERVING) -> None:
        self.state = state
        self.reads = 0
        self.broken = False

    def read(self) -> str:
        self.reads += 1
        if self.broken:
            raise RegionSwitchUnavailable("SSM GetParameter: Unreachable")
        return self.state

    def write(self, state: str) -> None:
        self.state = state


def test_the_switch_is_read_once_per_cache_period_however_many_requests():
    stored, clock = CountingSwitch(), Clock()
    cached = CachedSwitch(stored, monotonic=clock)

    states = [cached.state() for _ in range(100)]
    clock.now += CACHE_SECONDS - 0.001
    states.append(cached.state())

    assert states == [REGION_SERVING] * 101 and stored.reads == 1
    clock.now += 0.001
    cached.state()
    assert stored.reads == 2


def test_a_region_failed_on_another_instance_is_reported_here_within_the_cache_period():
    stored, clock = CountingSwitch(), Clock()
    here, there = CachedSwitch(stored, monotonic=clock), CachedSwitch(stored, monotonic=clock)
    assert here.state() == REGION_SERVING

    clock.now += 3
    there.set(REGION_FAILED)

    assert there.state() == REGION_FAILED  # at once where it was flipped
    assert here.state() == REGION_SERVING  # still cached here ...
    clock.now += CACHE_SECONDS - 3
    assert here.state() == REGION_FAILED  # ... at most CACHE_SECONDS after this instance last read it


def test_an_unreadable_switch_keeps_the_last_state_read_and_serving_before_any():
    stored, clock = CountingSwitch(REGION_FAILED), Clock()
    stored.broken = True
    cached = CachedSwitch(stored, monotonic=clock)
    assert cached.state() == REGION_SERVING  # never read: an SSM outage does not take the region out of DNS

    stored.broken = False
    clock.now += CACHE_SECONDS
    assert cached.state() == REGION_FAILED
    stored.broken = True
    clock.now += CACHE_SECONDS
    assert cached.state() == REGION_FAILED  # ... nor puts a failed one back


def test_a_stored_value_that_is_no_state_is_not_believed():
    stored, clock = CountingSwitch("FAILED "), Clock()
    cached = CachedSwitch(stored, monotonic=clock)

    assert cached.state() == REGION_SERVING
    with pytest.raises(RegionSwitchUnavailable, match="not one of"):
        cached.read_now()
    with pytest.raises(RegionSwitchUnavailable):
        cached.set("down")
    assert stored.state == "FAILED "


def test_the_local_switch_is_a_file_under_the_data_dir_serving_when_absent(tmp_path):
    switch = FileRegionSwitch(str(tmp_path / "data" / "region-switch"))
    assert switch.read() == REGION_SERVING

    switch.write(REGION_FAILED)
    assert (tmp_path / "data" / "region-switch").read_text() == "failed\n"
    assert switch.read() == REGION_FAILED
    assert FileRegionSwitch(str(tmp_path / "data" / "region-switch")).read() == REGION_FAILED


def test_an_unwritable_local_switch_is_region_switch_unavailable(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RegionSwitchUnavailable):
        FileRegionSwitch(str(tmp_path / "file" / "region-switch")).write(REGION_FAILED)


@pytest.mark.parametrize(("given", "kept"), [("", None), ("0", 0.0), ("1", 1.0), ("2.5", 2.5), ("300", 300.0)])
def test_how_long_health_keeps_a_read_of_the_switch_is_a_setting(given, kept):
    assert Settings.from_env({"REGION_SWITCH_CACHE_SECONDS": given}).region_switch_cache_seconds == kept


@pytest.mark.parametrize("given", ["-1", "301", "ten", "1e3"])
def test_a_switch_cache_time_that_is_not_0_to_300_seconds_is_refused(given):
    with pytest.raises(ConfigError, match="REGION_SWITCH_CACHE_SECONDS"):
        Settings.from_env({"REGION_SWITCH_CACHE_SECONDS": given})


def test_the_app_keeps_a_read_of_the_switch_as_long_as_the_setting_says(env, tmp_path):
    from chalicelib import wiring

    env(DATA_DIR=str(tmp_path), REGION_SWITCH_CACHE_SECONDS="0")
    clock = Clock()
    services = wiring.Services(Settings.from_env(), monotonic=clock)
    assert services.region_switch.state() == REGION_SERVING
    FileRegionSwitch(str(tmp_path / FILE_NAME)).write(REGION_FAILED)
    assert services.region_switch.state() == REGION_FAILED  # read again at once: no cache
