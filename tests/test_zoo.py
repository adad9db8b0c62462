"""A broken model directory gives an error that names the file and what is wrong."""

import shutil

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
