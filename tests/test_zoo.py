"""A broken model directory gives an error that names the file and what is wrong."""

import shutil
import subprocess

import pytest

import seqzoo
from seqzoo.zoo.spec import ModelNotFoundError, ModelSpecError, find_model, load_spec


@pytest.fixture
def copy(tmp_path):
    directory = tmp_path / "Basset"
    shutil.copytree(find_model("Basset"), directory)
    return directory


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_copied_directory_loads(copy):
    assert load_spec(copy).input_shape == (600, 4)


def test_invalid_yaml(copy):
    (copy / "model.yaml").write_text("args: [unclosed\n")
    with pytest.raises(ModelSpecError, match=r"model.yaml is not valid YAML"):
        load_spec(copy)


def test_missing_section(copy):
    edit(copy / "model.yaml", "schema:", "schemas:")
    with pytest.raises(ModelSpecError, match=r"model.yaml: missing 'schema'"):
        load_spec(copy)


def test_missing_weights_description(copy):
    (copy / "weights.yaml").unlink()
    with pytest.raises(ModelSpecError, match=r"args.weights names .*weights.yaml, which does not exist"):
        load_spec(copy)


def test_missing_labels_file(copy):
    (copy / "target_labels.txt").unlink()
    with pytest.raises(ModelSpecError, match=r"column_labels names .*target_labels.txt, which does not exist"):
        load_spec(copy)


def test_wrong_number_of_labels(copy):
    (copy / "target_labels.txt").write_text("a\nb\n")
    with pytest.raises(ModelSpecError, match=r"target_labels.txt has 2 labels but the targets have 164 columns"):
        load_spec(copy)


def test_bad_shape(copy):
    edit(copy / "model.yaml", "shape: (600, 4)", "shape: (600, four)")
    with pytest.raises(ModelSpecError, match=r"shape '\(600, four\)' is not a tuple of integers"):
        load_spec(copy)


def test_schema_disagreeing_with_the_architecture(copy):
    edit(copy / "model.yaml", "shape: (164, )", "shape: (165, )")
    (copy / "target_labels.txt").write_text("x\n" * 165)
    with pytest.raises(ValueError, match=r"the schema says input \(600, 4\) -> targets \(165,\)"):
        seqzoo.get_model(copy)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model named"):
        find_model(tmp_path / "nothing")
    with pytest.raises(ModelSpecError, match="it has no model.yaml"):
        load_spec(tmp_path)


# --- model cards (seqzoo.zoo.cards): what publish asks of a README.md ---------------------------

def test_every_zoo_card_has_the_sections_a_model_card_needs(model_name):
    from seqzoo.zoo.cards import card_problems

    import yaml

    directory = find_model(model_name)
    license = yaml.safe_load((directory / "model.yaml").read_text())["info"]["license"]
    assert card_problems(directory / "README.md", license) == []


def test_a_card_lacking_sections_is_refused_naming_each(tmp_path):
    from seqzoo.zoo.cards import card_problems

    import model_checks

    card = tmp_path / "README.md"
    card.write_text("# Tiny\n\n## Lineage\n- Fine-tuned from Basset.\n")  # what `seqzoo export` wrote alone
    (problem,) = card_problems(card, "MIT")
    assert "lacks what a model card needs: what the model predicts; training data; evaluation with figures; " \
           "limitations; licence (" in problem
    card.write_text(model_checks.model_card("Tiny").replace("AUROC 0.5", "AUROC not measured"))
    assert card_problems(card, "MIT") == [f"{card} lacks what a model card needs: evaluation with figures (the "
                                          "evaluation section gives no figure)"]
    card.write_text(model_checks.model_card("Tiny"))
    assert "licence (the licence section does not name model.yaml's license 'CC-BY-4.0')" in \
        card_problems(card, "CC-BY-4.0")[0]
    without_licence = model_checks.model_card("Tiny").split("## Licence")[0]
    card.write_text(without_licence + "```\n## Licence\nMIT\n```\n")  # a heading in a code block is no section
    assert card_problems(card, "MIT")[0].endswith("needs: licence (each a section whose heading says what it is, "
                                                  "e.g. '## Training data', '## Evaluation', '## Limitations', "
                                                  "'## Licence')")


# --- provenance (seqzoo.zoo.provenance): paths as the data names them -------------------------

def test_recorded_paths_are_relative_to_the_data_root_or_the_working_directory_else_a_name(tmp_path, monkeypatch):
    from seqzoo.zoo.provenance import portable_command, portable_path

    data, work = tmp_path / "shared" / "data", tmp_path / "work"
    (data / "arabidopsis").mkdir(parents=True)
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("SEQZOO_DATA", raising=False)
    assert portable_path(data / "arabidopsis" / "tasks.tsv") == "tasks.tsv"  # no data root: the name
    assert portable_path(work / "runs" / "run1") == "runs/run1" == portable_path("runs/run1")
    monkeypatch.setenv("SEQZOO_DATA", str(data))
    assert portable_path(data / "arabidopsis" / "tasks.tsv") == "$SEQZOO_DATA/arabidopsis/tasks.tsv"
    assert portable_path("../shared/data/arabidopsis") == "$SEQZOO_DATA/arabidopsis"
    assert portable_path("/elsewhere/tmp/dna/deepsea_ds") == "deepsea_ds"
    command = portable_command(["seqzoo", "dataset", "--peaks", str(data / "arabidopsis" / "peaks.bed.gz"),
                                f"--tasks={data}/arabidopsis/tasks.tsv", "--out", "/tmp/dna/deepsea_ds",
                                "--doc", "A /b c", "--split", "blocks:train=0-100", "--config", '{"a": [1, 2]}'])
    assert command == ("seqzoo dataset --peaks $SEQZOO_DATA/arabidopsis/peaks.bed.gz "
                       "--tasks=$SEQZOO_DATA/arabidopsis/tasks.tsv --out deepsea_ds --doc 'A /b c' "
                       "--split blocks:train=0-100 --config '{\"a\": [1, 2]}'")
    # a shell expands what was recorded back to the file
    shown = subprocess.run(["sh", "-c", f"echo {command.split()[3]}"], capture_output=True, text=True).stdout
    assert shown.strip() == str(data / "arabidopsis" / "peaks.bed.gz")
