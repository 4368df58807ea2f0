#!/usr/bin/env bash
# The prepared GPU check (issue #27); docs/GPU.md says what it does and how to run it.
#
# On a machine with an NVIDIA GPU: install what is missing (a CUDA build of torch,
# torch-tensorrt of torch's minor version, nightvid's own dependencies), run the CUDA and
# TensorRT tests, build the TensorRT (and AOTInductor) engines of the four models in fp16,
# and print one table: fps per model at 720p and 1080p, TensorRT vs AOTInductor vs eager.
# Everything runs under one time budget (default 450 s, inside 8 minutes).
#
# On a machine without one it prints one line and exits 0, before writing anything.
#
# Exit codes: 0 every check passed, or no NVIDIA GPU here (nothing to check);
#             1 a check failed, or ran out of the time budget (the summary names it);
#             2 usage error.
set -euo pipefail

START=$SECONDS
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL_MODELS="noiser lednet kind denoiser"
PYTORCH_INDEX=https://download.pytorch.org/whl

usage() {
    cat <<'EOF'
usage: scripts/gpu_check.sh [options]

On a machine with an NVIDIA GPU: install what is missing, run the CUDA and TensorRT
tests, build the TensorRT engines of all four models (fp16) and print the bench table
(fps per model and size, TensorRT vs AOTInductor vs eager). Without a GPU: print one
line and exit 0. See docs/GPU.md.

options:
  --quick            720p only, fewer frames, one repeat, fp16 tests only, budget 300 s
  --budget SECONDS   total time budget (default 450, at least 60); every step is cut to fit
  --models LIST      comma-separated subset of: noiser,lednet,kind,denoiser (default: all)
  --sizes LIST       comma-separated bench sizes (default 720p,1080p; --quick: 720p)
  --frames N         frames of the synthetic bench clip (default 40; --quick: 20)
  --repeats N        bench repeats, median reported (default 3; --quick: 1)
  --out DIR          results folder (default: $GPU_CHECK_OUT, else $OUT, else
                     gpu-check-results/ in the current folder)
  --wheels DIR       install from the wheels in DIR (default: $GPU_CHECK_WHEELS, else
                     .whl/ in the repository if it exists)
  --no-install       install nothing; use the environment as it is
  --no-tests         skip the pytest step
  --no-tensorrt      leave TensorRT out (no install, build or bench); not a failure
  -h, --help         show this and exit

environment: PYTHON (interpreter, default python3), GPU_CHECK_TORCH (torch version to
install when torch has no CUDA, default 2.13.0), GPU_CHECK_CUDA (its wheel tag, default
cu130), GPU_CHECK_CACHE (engine cache to reuse; default a temporary one).

exit codes: 0 all checks passed, or no NVIDIA GPU here; 1 a check failed or did not
fit the budget; 2 usage error.
EOF
}

bad_usage() {
    echo "gpu_check: $*" >&2
    echo "usage: scripts/gpu_check.sh [--quick] [--budget SECONDS] [--models LIST] [--sizes LIST]" \
        "[--frames N] [--repeats N] [--out DIR] [--wheels DIR] [--no-install] [--no-tests]" \
        "[--no-tensorrt] (--help for more)" >&2
    exit 2
}

# ---------------------------------------------------------------- options
QUICK=0
BUDGET=""
MODELS=$ALL_MODELS
SIZES=""
FRAMES=""
REPEATS=""
OUT_DIR=${GPU_CHECK_OUT:-${OUT:-}}
WHEELS=${GPU_CHECK_WHEELS:-}
DO_INSTALL=1
DO_TESTS=1
DO_TRT=1

need_value() { [[ $# -ge 2 && -n $2 ]] || bad_usage "$1 needs a value"; }
need_int() { [[ $2 =~ ^[0-9]+$ && $2 -ge 1 ]] || bad_usage "$1 needs a whole number of at least 1, got '$2'"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --quick) QUICK=1 ;;
        --no-install) DO_INSTALL=0 ;;
        --no-tests) DO_TESTS=0 ;;
        --no-tensorrt) DO_TRT=0 ;;
        --budget | --models | --sizes | --frames | --repeats | --out | --wheels)
            need_value "$@"
            case $1 in
                --budget) need_int "$1" "$2" && BUDGET=$2 ;;
                --frames) need_int "$1" "$2" && FRAMES=$2 ;;
                --repeats) need_int "$1" "$2" && REPEATS=$2 ;;
                --models) MODELS=${2//,/ } ;;
                --sizes) SIZES=${2//,/ } ;;
                --out) OUT_DIR=$2 ;;
                --wheels) WHEELS=$2 ;;
            esac
            shift
            ;;
        *) bad_usage "unknown argument '$1'" ;;
    esac
    shift
done

for model in $MODELS; do
    [[ " $ALL_MODELS " == *" $model "* ]] || bad_usage "unknown model '$model' (choose from ${ALL_MODELS// /, })"
done
[[ -n ${MODELS// /} ]] || bad_usage "--models names no model"
if ((QUICK)); then
    BUDGET=${BUDGET:-300}
    SIZES=${SIZES:-720p}
    FRAMES=${FRAMES:-20}
    REPEATS=${REPEATS:-1}
else
    BUDGET=${BUDGET:-450}
    SIZES=${SIZES:-720p 1080p}
    FRAMES=${FRAMES:-40}
    REPEATS=${REPEATS:-3}
fi
for size in $SIZES; do
    [[ $size =~ ^(360p|720p|1080p|[0-9]+x[0-9]+)$ ]] || bad_usage "bad size '$size' (360p, 720p, 1080p or WxH)"
done
[[ -n ${SIZES// /} ]] || bad_usage "--sizes names no size"
((BUDGET >= 60)) || bad_usage "--budget must be at least 60 seconds"

if [[ -n ${PYTHON:-} ]]; then
    PY=$PYTHON
elif command -v python3 >/dev/null 2>&1; then
    PY=python3
else
    PY=python
fi

# ---------------------------------------------------------------- step 0: is there a GPU?
# Silent until a GPU is found: without one, print one line, write nothing, exit 0.
GPU=""
why=()
if command -v nvidia-smi >/dev/null 2>&1; then
    if listing=$(timeout 30 nvidia-smi -L 2>/dev/null) && grep -q '^GPU ' <<<"$listing"; then
        GPU=$(grep -m1 '^GPU ' <<<"$listing" | sed -e 's/^GPU [0-9]*: //' -e 's/ (UUID.*//')
    else
        why+=("nvidia-smi lists no GPU")
    fi
else
    why+=("nvidia-smi not found")
fi
if [[ -z $GPU ]]; then
    # A container may see the GPU without nvidia-smi on its PATH: ask torch too.
    probe=$(timeout 60 "$PY" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null | tail -n1) || probe=""
    case $probe in
        True) GPU=$(timeout 60 "$PY" -c 'import torch; print(torch.cuda.get_device_name())' 2>/dev/null | tail -n1) || GPU="CUDA device" ;;
        False) why+=("torch.cuda.is_available() is False") ;;
        *) why+=("$PY cannot import torch") ;;
    esac
fi
if [[ -z $GPU ]]; then
    joined=$(printf '%s; ' ${why[@]+"${why[@]}"})
    echo "gpu_check: no NVIDIA GPU here (${joined%; }); nothing to check"
    exit 0
fi

# ---------------------------------------------------------------- a GPU: set up
OUT_DIR=${OUT_DIR:-gpu-check-results}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export NIGHTVID_CACHE_DIR=${GPU_CHECK_CACHE:-$WORK/engine-cache}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" # run this checkout's nightvid
export PYTHONUNBUFFERED=1
if [[ -z $WHEELS && -d $ROOT/.whl ]]; then
    WHEELS=$ROOT/.whl
fi
DEADLINE=$((START + BUDGET))
DEVICE=${GPU_CHECK_DEVICE:-cuda} # cpu only to dry-run this script itself (docs/GPU.md)
TRT_NOTE="left out (--no-tensorrt)"
RESERVE=15 # seconds kept back for the table and the summary

elapsed() { echo $((SECONDS - START)); }
say() { printf '[gpu_check %4ss] %s\n' "$(elapsed)" "$*"; }
step() { say "== step $1"; }

FAILED=()
fail() {
    FAILED+=("$*")
    say "FAILED: $*"
}

# The budget's shares: install and tests end by 40% of it, the engine builds by 70%,
# and the bench has the rest, so that a slow build cannot leave no time for the figures.
PHASE_END=$DEADLINE
phase() { PHASE_END=$((START + BUDGET * $1 / 100)); }

# guarded CAP CMD...: CMD under `timeout`, at most CAP seconds and never past its phase's
# share of the budget. Returns CMD's status; 124 when it was stopped at its limit, 125
# when no time was left.
guarded() {
    local cap=$1 limit
    shift
    limit=$((DEADLINE - RESERVE - SECONDS))
    ((limit > PHASE_END - SECONDS)) && limit=$((PHASE_END - SECONDS))
    ((limit > cap)) && limit=$cap
    if ((limit < 5)); then
        say "out of time budget, not run: ${*:1:6}" >&3
        return 125
    fi
    timeout --kill-after=10 "$limit" "$@"
}

# why_failed STATUS [ERRFILE]: words for a guarded command's exit status (and its last error line).
why_failed() {
    case $1 in
        124 | 137) echo "timed out" ;;
        125) echo "not run: out of time budget" ;;
        *) echo "exit $1${2:+: $(tail -n1 "$2")}" ;;
    esac
}

finish() {
    local rc=0
    step "summary"
    if ((${#FAILED[@]})); then
        rc=1
        for line in "${FAILED[@]}"; do
            say "  failed: $line"
        done
        say "gpu_check: ${#FAILED[@]} check(s) failed in $(elapsed) s; results in $OUT_DIR"
    else
        say "gpu_check: all checks passed in $(elapsed) s; results in $OUT_DIR"
    fi
    exit "$rc"
}

main() {
    exec 3>&1 # the log, for messages from inside redirected commands
    step "0: GPU: $GPU (budget ${BUDGET} s; results in $OUT_DIR)"
    timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

    # ------------------------------------------------------------ step 1: install
    step "1: install"
    phase 40
    local index_ok=0 index status torch_line
    if ((DO_INSTALL)); then
        index=${PIP_INDEX_URL:-$(timeout 30 "$PY" -m pip config get global.index-url 2>/dev/null || true)}
        index=${index:-https://pypi.org/simple/}
        if timeout 15 "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=8)' "$index" \
            >/dev/null 2>&1; then
            index_ok=1
            say "package index reachable: $index"
        else
            say "no package index reachable ($index)${WHEELS:+; wheels from $WHEELS}"
        fi
    fi
    # pip_install TAG SPEC...: from --wheels and/or the index (plus PyTorch's index for TAG);
    # torch stays the version it is (constraints file) once a CUDA build is in place.
    pip_install() {
        local tag=$1
        shift
        if ((!index_ok)) && [[ -z $WHEELS ]]; then
            say "cannot install $*: no package index reachable and no wheels (--wheels DIR); see docs/GPU.md"
            return 3
        fi
        local args=(-m pip install -q --disable-pip-version-check --progress-bar off --timeout 20 --retries 1)
        [[ -f $WORK/constraints.txt ]] && args+=(-c "$WORK/constraints.txt")
        [[ -n $WHEELS ]] && args+=(--find-links "$WHEELS")
        if ((index_ok)); then
            args+=(--extra-index-url "$PYTORCH_INDEX/$tag")
        else
            args+=(--no-index)
        fi
        say "pip install $*"
        guarded 300 "$PY" "${args[@]}" "$@"
    }
    torch_state() {
        timeout 120 "$PY" -c 'import torch; print(torch.__version__, torch.cuda.is_available())' 2>/dev/null | tail -n1
    }

    torch_line=$(torch_state) || torch_line=""
    if [[ $torch_line != *" True" ]]; then
        say "torch here: ${torch_line:-not importable}; a CUDA build is needed"
        if ((DO_INSTALL)) && pip_install "${GPU_CHECK_CUDA:-cu130}" "torch==${GPU_CHECK_TORCH:-2.13.0}"; then
            torch_line=$(torch_state) || torch_line=""
        fi
        if [[ $torch_line != *" True" ]]; then
            fail "install: no CUDA build of torch can use the GPU (torch: ${torch_line:-not importable})"
            finish
        fi
    fi
    local torch_version=${torch_line%% *} cuda_tag minor
    echo "torch==$torch_version" >"$WORK/constraints.txt"
    cuda_tag=$("$PY" -c 'import torch; print("cu" + (torch.version.cuda or "").replace(".", ""))')
    minor=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$torch_version")
    say "torch $torch_version sees the GPU"

    # nightvid's own dependencies and the test runner: install only what is missing.
    local missing
    missing=$("$PY" - <<'EOF'
import importlib.util
wanted = {"av": "av>=14", "typer": "typer>=0.12", "rich": "rich>=13", "safetensors": "safetensors>=0.4",
          "cv2": "opencv-python-headless>=4.8", "numpy": "numpy>=1.24", "pytest": "pytest>=8",
          "pytest_timeout": "pytest-timeout>=2.3"}
print(" ".join(spec for module, spec in wanted.items() if importlib.util.find_spec(module) is None))
EOF
    )
    if [[ -n $missing ]]; then
        say "missing Python packages: $missing"
        # shellcheck disable=SC2086 # one word per package
        if ((!DO_INSTALL)) || ! pip_install "$cuda_tag" $missing; then
            fail "install: missing $missing"
        fi
    fi
    # PyAV (video decode and encode) is what a lent device machine lacks and cannot fetch:
    # without it the tests that make clips cannot be collected and `nightvid bench` cannot
    # run, so step 2 runs the CUDA/TensorRT test files alone and step 4 times the engines
    # on frames in memory (the bench's inference stage; no decode, encode or end to end).
    if timeout 60 "$PY" -c 'import av' >/dev/null 2>&1; then
        HAVE_AV=1
    else
        HAVE_AV=0
        say "no PyAV: tests without the clip fixtures; bench of the inference stage alone, on frames in memory"
    fi

    if ((DO_TRT)); then
        local trt_line
        trt_line=$(timeout 120 "$PY" -c 'import torch_tensorrt; print(torch_tensorrt.__version__)' 2>/dev/null | tail -n1) ||
            trt_line=""
        if [[ -n $trt_line && $trt_line != "$minor".* ]]; then
            say "torch_tensorrt $trt_line does not match torch $torch_version: replacing it"
            trt_line=""
        fi
        if [[ -z $trt_line ]] && ((DO_INSTALL)); then
            pip_install "$cuda_tag" "torch-tensorrt==$minor.*" || true
            trt_line=$(timeout 120 "$PY" -c 'import torch_tensorrt; print(torch_tensorrt.__version__)' 2>&1 | tail -n1) ||
                { say "import torch_tensorrt: $trt_line" && trt_line=""; }
        fi
        if [[ -z $trt_line ]]; then
            DO_TRT=0
            TRT_NOTE="torch-tensorrt not installed"
            fail "install: torch-tensorrt==$minor.* not available; TensorRT tests, builds and bench left out" \
                "(--no-tensorrt leaves it out on purpose)"
        fi
    fi

    "$PY" - "$WORK/versions.json" "$GPU" <<'EOF'
import json, platform, sys
from importlib import metadata
import torch
versions = {"gpu": sys.argv[2], "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "capability": ".".join(map(str, torch.cuda.get_device_capability()))}
for name in ("torch-tensorrt", "tensorrt", "av", "onnxruntime"):
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        versions[name] = None
json.dump(versions, open(sys.argv[1], "w"), indent=1)
print(" ".join(f"{k} {v}" for k, v in versions.items() if v))
EOF
    if ! guarded 120 "$PY" -m nightvid models >/dev/null; then
        fail "install: \`python -m nightvid models\` does not run from $ROOT"
        finish
    fi
    say "install done"

    # ------------------------------------------------------------ step 2: tests
    step "2: CUDA and TensorRT tests"
    if ((DO_TESTS)); then
        local pytest=(-m pytest -q -rs -p no:cacheprovider)
        local quick_k=()
        ((QUICK)) && quick_k=(-k "not fp32")
        cd "$ROOT" # the tests import tests.*; the paths below are all absolute
        # The `gpu` marker: TensorRT compile/save/load against eager (fp32 and fp16, all
        # four nets), fp16 on CUDA per net. Then the rest of the TensorRT file and the
        # pinned-memory CUDA transfer tests (skipif-guarded, not marked). Without PyAV the
        # root conftest (clip fixtures) cannot load: the files that need none run alone.
        local gpu_tests=(tests)
        if ((!HAVE_AV)); then
            pytest+=(--noconftest)
            gpu_tests=(tests/engines/test_tensorrt.py tests/nets/test_contract.py)
        fi
        status=0
        guarded $((BUDGET * 35 / 100)) "$PY" "${pytest[@]}" -m gpu ${quick_k[@]+"${quick_k[@]}"} "${gpu_tests[@]}" ||
            status=$?
        if ((status != 0 && status != 5)); then # 5: nothing selected
            fail "tests -m gpu: $(why_failed "$status")"
        fi
        status=0
        guarded $((BUDGET * 10 / 100)) "$PY" "${pytest[@]}" -m "not gpu" \
            tests/engines/test_tensorrt.py tests/engines/test_transfer.py || status=$?
        if ((status != 0)); then
            fail "tests engines/test_tensorrt.py engines/test_transfer.py: $(why_failed "$status")"
        fi
    else
        say "skipped (--no-tests)"
    fi

    # ------------------------------------------------------------ step 3: engines
    step "3: build engines (fp16)"
    phase 70
    local built=() model backend backends=(inductor) t0
    if ((DO_TRT)); then
        backends=(tensorrt inductor)
    else
        for model in $MODELS; do
            printf '%s\ttensorrt\t%s\n' "$model" "$TRT_NOTE" >>"$WORK/notes.tsv"
        done
    fi
    for backend in "${backends[@]}"; do
        for model in $MODELS; do
            t0=$SECONDS
            status=0
            guarded 180 "$PY" -m nightvid compile "$model" --backend "$backend" --device "$DEVICE" --precision fp16 \
                2>"$WORK/compile.err" || status=$?
            tail -n 5 "$WORK/compile.err"
            if ((status == 0)); then
                built+=("$model:$backend")
                say "built $model:$backend in $((SECONDS - t0)) s"
            else
                fail "build $model:$backend: $(why_failed "$status" "$WORK/compile.err")"
                printf '%s\t%s\t%s\n' "$model" "$backend" "build $(why_failed "$status")" >>"$WORK/notes.tsv"
            fi
        done
    done

    # ------------------------------------------------------------ step 4: bench
    local how="nightvid bench"
    ((HAVE_AV)) || how="no PyAV: the inference stage alone, on frames in memory"
    step "4: bench fp16: ${SIZES// /, } x ${MODELS// /, } ($FRAMES frames, median of $REPEATS; $how)"
    local size compare names
    PHASE_END=$DEADLINE
    for size in $SIZES; do
        for model in $MODELS; do
            compare=()
            names=(eager)
            for backend in inductor tensorrt; do
                if [[ " ${built[*]-} " == *" $model:$backend "* ]]; then
                    compare+=(--compare "$model:$backend")
                    names+=("$backend")
                fi
            done
            say "bench $model at $size: ${names[*]}"
            status=0
            if ((HAVE_AV)); then
                guarded 150 "$PY" -m nightvid bench --size "$size" --frames "$FRAMES" --repeats "$REPEATS" \
                    --model "$model" --backend eager ${compare[@]+"${compare[@]}"} --precision fp16 --device "$DEVICE" \
                    --json >"$WORK/bench-$model-$size.json" 2>"$WORK/bench-$model-$size.err" || status=$?
            else
                guarded 150 "$PY" - "$model" "$size" "$FRAMES" "$REPEATS" "$DEVICE" "${names[@]}" \
                    >"$WORK/bench-$model-$size.json" 2>"$WORK/bench-$model-$size.err" <<'EOF' || status=$?
# The inference stage of `nightvid bench` (streamer.stage_timing.bench_engine) without
# PyAV: the same engines and calls (two warm-up calls, then enhance_batches at batch 1,
# median of the repeats), on dark random frames in memory instead of decoded ones.
import json, statistics, sys, time
import numpy as np
import torch
from nightvid.engines import create_engine
from nightvid.errors import NightvidError

model, size, device, backends = sys.argv[1], sys.argv[2], sys.argv[5], sys.argv[6:]
frames, repeats = int(sys.argv[3]), int(sys.argv[4])
named = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
width, height = named[size] if size in named else map(int, size.split("x"))
rng = np.random.default_rng(0)
clip = [rng.integers(0, 48, (height, width, 3), dtype=np.uint8) for _ in range(frames)]
rows, failed = [], None
for backend in backends:
    label = f"{model}:{backend}"
    try:
        engine = create_engine(model, weights="default", backend=backend, precision="fp16", device=device)
        for _ in range(2):
            engine.enhance_frames(clip[:1])
        cuda = engine.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(engine.device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _done in engine.enhance_batches(([frame], None) for frame in clip):
                pass
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        peak = round(torch.cuda.max_memory_allocated(engine.device) / 2**20, 1) if cuda else None
        rows.append({"label": label, "stage": "inference", "frames": frames, "fps": round(frames / seconds, 2),
                     "ms_per_frame": round(1000 * seconds / frames, 2), "peak_gpu_mib": peak, "runs": repeats})
        del engine
    except (NightvidError, RuntimeError) as err:
        print(f"{label}: {err}", file=sys.stderr)
        failed = failed or {"engine": label, "reason": str(err)}
print(json.dumps({"method": "no PyAV: inference stage on frames in memory", "input": f"synthetic {size}",
                  "frames": frames, "repeats": repeats, "precision": "fp16", "rows": rows, "failed": failed}))
sys.exit(1 if failed else 0)
EOF
            fi
            if ((status != 0)); then
                tail -n 5 "$WORK/bench-$model-$size.err"
                fail "bench $model $size: $(why_failed "$status" "$WORK/bench-$model-$size.err")"
                why_failed "$status" >"$WORK/bench-$model-$size.why"
            fi
        done
    done

    # ------------------------------------------------------------ step 5: table
    step "5: table"
    local failures_file=$WORK/failures.txt
    printf '%s\n' ${FAILED[@]+"${FAILED[@]}"} >"$failures_file"
    # shellcheck disable=SC2086 # word lists
    if ! timeout 60 "$PY" - "$WORK" "$OUT_DIR" "$failures_file" "$FRAMES" "$REPEATS" "$QUICK" "$MODELS" "$SIZES" \
        "$HAVE_AV" <<'EOF'; then
import json, sys
from pathlib import Path

work, out, failures_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
frames, repeats, quick = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
models, sizes, in_memory = sys.argv[7].split(), sys.argv[8].split(), sys.argv[9] == "0"
versions = json.loads((work / "versions.json").read_text())
notes = {}
if (work / "notes.tsv").exists():
    for line in (work / "notes.tsv").read_text().splitlines():
        model, backend, note = line.split("\t")
        notes[model, backend] = note
results, reports = [], {}
for size in sizes:
    for model in models:
        path = work / f"bench-{model}-{size}.json"
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            report = None
        why = path.with_suffix(".why")
        failed = "bench " + why.read_text().strip() if why.exists() else None
        reports[f"{model} {size}"] = report
        rows = {}
        for row in (report or {}).get("rows", []):
            rows.setdefault(row["label"].split(":")[1], {})[row["stage"]] = row
        eager = rows.get("eager", {}).get("inference", {}).get("fps")
        for backend in ("tensorrt", "inductor", "eager"):
            stages = rows.get(backend)
            entry = {"model": model, "size": size, "backend": backend}
            if stages and "inference" in stages:
                fps = stages["inference"]["fps"]
                entry.update(fps=fps, ms_per_frame=stages["inference"]["ms_per_frame"],
                             end_to_end_fps=stages.get("end-to-end", {}).get("fps"),
                             gpu_mib=stages["inference"].get("peak_gpu_mib"),
                             vs_eager=round(fps / eager, 2) if eager else None)
            else:
                entry["note"] = notes.get((model, backend)) or failed or "not measured"
            results.append(entry)

def num(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"

head = ["model", "size", "backend", "fps", "ms/frame", "end-to-end fps", "x eager", "GPU MiB", "note"]
table = []
for e in results:
    if "fps" in e:
        table.append([e["model"], e["size"], e["backend"], num(e["fps"]), num(e["ms_per_frame"], 2),
                      num(e["end_to_end_fps"]), num(e["vs_eager"], 2), num(e["gpu_mib"], 0), ""])
    else:
        table.append([e["model"], e["size"], e["backend"], "-", "-", "-", "-", "-", e["note"]])
widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
for r in [head, ["-" * w for w in widths], *table]:
    print("  ".join(c.rjust(w) if 3 <= i < 8 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())

failures = [line for line in failures_file.read_text().splitlines() if line]
settings = {"precision": "fp16", "frames": frames, "repeats": repeats, "quick": quick, "batch": 1,
            "x264_preset": "veryfast", "engine_range": "nightvid's default (TensorRT up to 4x1088x1920)"}
how = ("fps is the inference stage on frames in memory (no PyAV here: no decode, encode or end to end)"
       if in_memory else "fps is the inference stage, end-to-end adds decode and x264 veryfast encode")
settings["timed_by"] = "frames in memory (no PyAV)" if in_memory else "nightvid bench"
print(how)
md = [f"GPU: {versions['gpu']}; " + ", ".join(f"{k} {v}" for k, v in versions.items() if v and k != "gpu"),
      f"fp16, batch 1, synthetic {frames}-frame clips, median of {repeats}; {how} (`scripts/gpu_check.sh`).", "",
      "| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 5 + ["---"]) + "|"]
md += ["| " + " | ".join(r) + " |" for r in table]
(out / "gpu_check.md").write_text("\n".join(md) + "\n")
(out / "gpu_check.json").write_text(json.dumps(
    {"versions": versions, "settings": settings, "results": results, "failures": failures, "reports": reports},
    indent=1))
EOF
        fail "table: could not be written"
    fi
    finish
}

LOG=$OUT_DIR/gpu_check.log
set +e
(
    set -e
    main
) 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
if ((rc > 1)); then # main exits 0 or 1 itself; anything else is a command that broke
    echo "gpu_check: stopped by an unexpected error (exit $rc); see $LOG" | tee -a "$LOG"
    rc=1
fi
exit "$rc"
