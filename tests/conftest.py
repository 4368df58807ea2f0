from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clips import make_clip

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


#: The ``slow`` lane: tests of several seconds each (compiles, exports, subprocess runs,
#: real clips, distributed training), the 60 longest of ``python -m pytest -q --durations=60``
#: on two cores and the 7 longest left in the fast lane after them, about four fifths of the
#: suite's time. ``python -m pytest -q -m "not slow"``
#: leaves them out for everyday work; CI runs everything. Parametrized tests are named
#: without their parameters (every case is slow).
SLOW = frozenset(
    {
        "tests/engines/test_backend_parity.py::test_each_cpu_backend_matches_eager_on_decoder_frames",
        "tests/engines/test_backend_parity.py::test_inductor_matches_eager_where_onednn_takes_its_avx2_path",
        "tests/engines/test_cli_compile.py::test_compile_writes_artifact_and_metadata_then_hits",
        "tests/engines/test_engines.py::test_bf16_inductor_matches_eager_bf16",
        "tests/engines/test_engines.py::test_fp32_matches_eager",
        "tests/engines/test_engines.py::test_stale_and_corrupt_real_artifacts_are_rebuilt",
        "tests/engines/test_fused.py::test_4k_frame_matches_eager",
        "tests/engines/test_fused.py::test_the_backend_row_auto_and_its_fallbacks",
        "tests/engines/test_host_memory.py::test_freed_blocks_are_reused_without_page_faults_on_every_thread",
        "tests/engines/test_tensorrt.py::test_export_with_the_shared_dynamic_spec",
        "tests/jobs/test_many_cli.py::test_interrupted_then_killed_run_is_completed_by_a_rerun",
        "tests/jobs/test_many_cli.py::test_json_summary_and_exit_code",
        "tests/jobs/test_many_local.py::test_long_clip_in_pieces_equals_one_pass",
        "tests/jobs/test_many_local.py::test_outputs_equal_single_enhance_and_a_corrupt_input_fails_alone",
        "tests/jobs/test_many_local.py::test_pieces_finished_before_an_interrupt_are_not_made_again",
        "tests/nets/test_chain.py::test_a_chain_compiles_to_one_artifact_that_matches_eager",
        "tests/nets/test_chain.py::test_a_chain_equals_running_the_two_nets_in_turn",
        "tests/nets/test_chain.py::test_enhance_runs_a_chain_end_to_end",
        "tests/nets/test_contract.py::test_export_dynamic_shapes_matches_eager",
        "tests/nets/test_contract.py::test_onnx_export",
        "tests/nets/test_exposure_and_noiser.py::test_engines_with_other_exposures_are_other_artifacts",
        "tests/streamer/test_preview.py::test_file_source_plays_at_its_rate_and_loops",
        "tests/test_cli_enhance.py::test_ctrl_c_leaves_nothing",
        "tests/test_cli_enhance.py::test_first_run_says_it_builds_the_engine_and_prints_no_exporter_chatter",
        "tests/test_cli_hostile.py::test_a_full_disk_is_one_line_and_leaves_nothing",
        "tests/test_cli_hostile.py::test_damage_in_ts_and_fragmented_mp4_is_a_warning_and_a_strict_error",
        "tests/test_cli_hostile.py::test_sigint_stops_a_run_started_with_sigint_ignored",
        "tests/test_cli_hostile.py::test_sigterm_and_sighup_clean_up_like_ctrl_c",
        "tests/test_cli_hostile_streams.py::test_encoders_that_print_themselves_are_silent_under_quiet",
        "tests/test_real_clips.py::test_mid_stream_damage_is_skipped_like_ffmpeg_with_a_warning",
        "tests/test_real_clips.py::test_real_clip_enhanced_with_ffmpegs_frames_times_and_audio",
        "tests/test_same_output.py::test_enhance_writes_the_same_frames_as_before_the_restructuring",
        "tests/trainers/test_distributed.py::test_a_stopped_rank_times_out_the_others_with_one_line",
        "tests/trainers/test_distributed.py::test_kind_trains_its_three_stages_distributed_under_bf16",
        "tests/trainers/test_distributed.py::test_rank0_alone_writes_and_resume_after_a_kill_is_exact",
        "tests/trainers/test_distributed.py::test_two_processes_equal_one_with_twice_the_batch",
        "tests/trainers/test_noiser.py::test_shipped_weights_are_what_the_default_recipe_trains",
        "tests/engines/test_engines.py::test_second_create_loads_from_cache_fast",
        "tests/engines/test_backend_parity.py::test_a_cached_artifact_is_checked_again_when_loaded",
        "tests/engines/test_backends.py::test_in_process_builders_name_their_backend",
        "tests/trainers/test_distributed.py::test_joint_denoiser_trains_distributed_with_one_frozen_net",
        "tests/trainers/test_recipes.py::test_joint_denoiser_trains_with_a_vgg16_file",
        "tests/trainers/test_distributed.py::test_a_rank_that_never_comes_ends_the_wait",
        "tests/test_cli_hostile_time.py::test_enhance_many_reports_each_videos_warnings",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("[")[0] in SLOW:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def private_engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compiled engines of this test session go to a temporary cache, not the user's; and
    ``auto`` takes its fixed order (``NIGHTVID_AUTO_TRIAL=0``): a timed trial on a busy
    machine could pick another backend from run to run (tests/engines/test_trial.py turns
    it back on for itself)."""
    before = {name: os.environ.get(name) for name in ("NIGHTVID_CACHE_DIR", "NIGHTVID_AUTO_TRIAL")}
    cache = tmp_path_factory.mktemp("nightvid-cache")
    os.environ["NIGHTVID_CACHE_DIR"] = str(cache)
    os.environ["NIGHTVID_AUTO_TRIAL"] = "0"
    yield cache
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data}")
    return data


@pytest.fixture
def dark_clip(tmp_path: Path) -> Path:
    """12 dark 64x48 frames at 25 fps with an AAC track."""
    return make_clip(tmp_path / "dark.mp4", frames=12)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """CLI commands configure logging for the process (root handlers on the stream they
    were given, INFO for the engine cache); under CliRunner that stream is closed when the
    command returns. Put everything back after each test so no test sees another's setup."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    cache = logging.getLogger("nightvid.engines.cache")
    cache_level = cache.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    cache.setLevel(cache_level)
