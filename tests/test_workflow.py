"""The GitHub Actions workflow of .github/workflows: structure GitHub accepts, and levels that work.

GitHub itself only reports a broken workflow when it runs, so this checks here what it would
refuse (``on`` and ``jobs``, ``runs-on`` and ``steps`` in every job, ``uses`` xor ``run`` in
every step) and what would make a level fail or do the wrong thing: each trigger starts exactly
its own job, the GPU job runs only by hand on a self-hosted ``gpu`` runner, every ``make`` target
named exists in the Makefile, every ``python -m`` module exists, inputs reach scripts through
the environment (not pasted into the script), and the artifacts are the folders the tools write.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import shlex
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
TRIGGERS = {"pull_request": "pull-request", "schedule": "nightly", "workflow_dispatch": "gpu"}


def load(path: pathlib.Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True; GitHub reads it as "on".
    if True in data:
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def workflow() -> dict:
    assert [p.name for p in WORKFLOWS] == ["book.yml"], "expected one workflow, book.yml"
    return load(WORKFLOWS[0])


def jobs(workflow):
    return workflow["jobs"].items()


def steps(workflow):
    for job_id, job in jobs(workflow):
        for step in job["steps"]:
            yield job_id, step


def scripts(job: dict) -> str:
    return "\n".join(step["run"] for step in job["steps"] if "run" in step)


def makefile_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.$()/ -]+?)\s*:(?![=:])", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return targets


def make_targets_in(script: str) -> list[str]:
    """The targets of every `make ...` command in a shell script (variables and options skipped)."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        for i, word in enumerate(words):
            if word != "make":
                continue
            for arg in words[i + 1 :]:
                if arg in {"|", "||", "&&", ";", "2>&1"} or arg.startswith((">", "2>", "|")):
                    break
                if "=" in arg or arg.startswith("-"):
                    continue
                found.append(arg)
    return found


def modules_in(script: str) -> list[str]:
    return re.findall(r"python[\d.]*\s+-m\s+([A-Za-z_][\w.]*)", script)


def test_the_parser_helpers_find_what_they_should():
    script = 'make setup TORCH_INDEX="$X"\nmake -j2 nbval 2>&1 | tee log\n.venv/bin/python -m a.b x'
    assert make_targets_in(script) == ["setup", "nbval"]
    assert modules_in(script) == ["a.b"]
    assert {"nbval", "nbval-perturbed", "smoke", "unit", "test", "setup"} <= makefile_targets()


def test_top_level_structure(workflow):
    assert isinstance(workflow.get("name"), str)
    assert set(workflow["on"]) == set(TRIGGERS)
    assert workflow["jobs"], "a workflow needs jobs"
    for job_id, job in jobs(workflow):
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", job_id), job_id
        assert "runs-on" in job, f"job {job_id} has no runs-on"
        assert isinstance(job.get("steps"), list) and job["steps"], f"job {job_id} has no steps"
        assert isinstance(job.get("timeout-minutes"), int), f"job {job_id} has no time limit"


def test_every_step_uses_an_action_or_runs_a_script(workflow):
    for job_id, step in steps(workflow):
        assert isinstance(step, dict), (job_id, step)
        assert ("uses" in step) != ("run" in step), f"{job_id}: {step} needs uses xor run"
        if "with" in step:
            assert "uses" in step, f"{job_id}: `with` belongs to an action step: {step}"
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_the_actions_are_the_current_majors(workflow):
    used = {step["uses"] for _, step in steps(workflow) if "uses" in step}
    assert used == {"actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4"}


def test_triggers(workflow):
    on = workflow["on"]
    crons = [entry["cron"] for entry in on["schedule"]]
    assert len(crons) == 1
    fields = crons[0].split()
    assert len(fields) == 5 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields), crons
    inputs = on["workflow_dispatch"]["inputs"]
    assert {"experiments", "torch_index"} <= set(inputs)
    for name, spec in inputs.items():
        assert spec.get("type") in {"string", "boolean", "choice", "number", "environment"}, name
        assert spec.get("description"), name


def test_each_trigger_starts_exactly_its_own_job(workflow):
    for job_id, job in jobs(workflow):
        events = re.findall(r"github\.event_name\s*==\s*'(\w+)'", job.get("if", ""))
        assert len(events) == 1, f"job {job_id} must name the one event that starts it: {events}"
        assert TRIGGERS[events[0]] == job_id
    assert set(workflow["jobs"]) == set(TRIGGERS.values())


def test_cpu_levels_run_on_hosted_runners_with_the_cpu_torch(workflow):
    for job_id in ("pull-request", "nightly"):
        job = workflow["jobs"][job_id]
        assert job["runs-on"] == "ubuntu-latest"
        assert 'make setup TORCH_INDEX="$TORCH_CPU_INDEX"' in scripts(job)
    assert workflow["env"]["TORCH_CPU_INDEX"].endswith("/whl/cpu")
    assert workflow["env"]["TORCH_CPU_INDEX"].startswith("--index-url=https://")


def test_pull_request_level_is_smoke_and_unit_tests(workflow):
    targets = make_targets_in(scripts(workflow["jobs"]["pull-request"]))
    assert {"unit", "smoke"} <= set(targets)
    assert not {"test", "nbval", "browser"} & set(targets), "book scale belongs to nightly"


def test_nightly_level_is_make_test_with_a_browser_and_screenshots(workflow):
    job = workflow["jobs"]["nightly"]
    script = scripts(job)
    assert "test" in make_targets_in(script)
    assert "chromium" in script and "fonts-dejavu-core" in script
    assert "tools/screenshot.py" in script
    uploads = [s["with"]["path"] for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert "_build/screenshots/" in uploads


def test_gpu_level_is_by_hand_on_a_self_hosted_gpu_runner(workflow):
    job = workflow["jobs"]["gpu"]
    assert job["if"].strip() == "github.event_name == 'workflow_dispatch'"
    assert set(job["runs-on"]) == {"self-hosted", "gpu"}
    others = [j for j_id, j in jobs(workflow) if j_id != "gpu"]
    assert all("self-hosted" not in j["runs-on"] for j in others)
    assert job["env"]["SOBOLEV_DEVICE"] == "cuda"
    script = scripts(job)
    assert "torch.cuda.is_available()" in script, "the GPU job must fail on a CPU torch"
    assert "nbval" in make_targets_in(script)
    assert "sobolev.experiments --list" in script
    assert re.search(r'sobolev\.experiments "\$name" --scale paper --out "results/\$name/"', script)
    uploads = [s["with"]["path"] for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads == ["results/"]


def test_every_make_target_exists():
    targets = makefile_targets()
    named = [
        t
        for path in WORKFLOWS
        for job in load(path)["jobs"].values()
        for t in make_targets_in(scripts(job))
    ]
    assert named, "no make command found"
    missing = sorted(set(named) - targets)
    assert not missing, f"make targets named in the workflow but not in the Makefile: {missing}"


def test_every_python_module_exists():
    named = {
        m
        for path in WORKFLOWS
        for job in load(path)["jobs"].values()
        for m in modules_in(scripts(job))
    }
    assert "sobolev.experiments" in named
    missing = sorted(m for m in named if importlib.util.find_spec(m) is None)
    assert not missing, f"python -m modules named in the workflow that do not exist: {missing}"


def test_inputs_reach_scripts_through_the_environment(workflow):
    declared = set(workflow["on"]["workflow_dispatch"]["inputs"])
    text = WORKFLOWS[0].read_text()
    used = set(re.findall(r"\$\{\{\s*inputs\.(\w+)", text))
    assert used <= declared, f"undeclared inputs: {used - declared}"
    assert used == declared, f"declared but unused inputs: {declared - used}"
    for job_id, step in steps(workflow):
        # an input pasted into a script is a script injection; env: passes it as data
        assert "${{ inputs." not in step.get("run", ""), (job_id, step.get("name"))


def make_dry_run(*args: str) -> str:
    result = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_nbval_perturbed_runs_nbval_on_two_threads_one_notebook_at_a_time():
    plain = make_dry_run("nbval")
    assert "OMP_NUM_THREADS=1" in plain and "-n 2 " in plain and "SOBOLEV_PERTURB" not in plain
    perturbed = make_dry_run("nbval-perturbed")
    line = next(x for x in perturbed.splitlines() if "SOBOLEV_SCALE=book" in x)
    settings = ("SOBOLEV_PERTURB=1", "SOBOLEV_THREADS=2", "OMP_NUM_THREADS=2", "-n 1 ")
    for setting in (*settings, "OMP_WAIT_POLICY=PASSIVE"):
        assert setting in line, (setting, line)
    assert "OMP_NUM_THREADS=1" not in line
