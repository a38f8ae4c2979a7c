"""`tinyml convert`: the generated C carries the exact model, compiles as C99 and C++17, the
committed firmware/lib/models/ is what the converter generates today, and bad input is refused
with nothing written."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import COMMITTED_MODELS, MODELS_DIR, WORKSPACE
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.compiler.convert import convert_file, registry_files
from tinyml_pipeline.tools.compiler.host import CORE_INCLUDES, runtime_sources

STANDIN = Path(__file__).parent / "support" / "tflm_standin"
COMMITTED_SOURCES = WORKSPACE.firmware_models
C99 = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
CXX17 = ["-std=c++17", "-Wall", "-Wextra", "-Werror"]


def generate_committed() -> dict[str, str]:
    """What `tinyml convert models/<name>/model.tflite` for every committed model writes."""
    files, entries = {}, []
    for name in COMMITTED_MODELS:
        converted = convert_file(MODELS_DIR / name / "model.tflite", COMMITTED_SOURCES,
                                 display_root=WORKSPACE.root)
        files.update(converted.files)
        entries.append(converted.entry)
    files.update(registry_files(entries))
    return files


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    for file_name, text in generate_committed().items():
        (directory / file_name).write_text(text)
    return directory


def test_committed_sources_are_what_the_converter_generates(generated):
    committed = {p.name for p in COMMITTED_SOURCES.iterdir() if p.is_file()}
    fresh = {p.name for p in generated.iterdir()}
    assert committed == fresh, f"missing or extra files in {COMMITTED_SOURCES}"
    stale = [name for name in sorted(fresh)
             if (COMMITTED_SOURCES / name).read_bytes() != (generated / name).read_bytes()]
    assert not stale, (f"{stale} differ from the converter's output; regenerate with "
                       f"`tinyml convert models/<name>/model.tflite`")


def _array_bytes(source: str, array: str) -> bytes:
    body = re.search(rf"{array}\[\d+\] = {{(.*?)}};", source, re.S).group(1)
    return bytes(int(value, 16) for value in re.findall(r"0x[0-9a-f]{2}", body))


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_model_data_parses_back_to_the_tflite_bytes(generated, name):
    source = (generated / f"{name}_model_data.c").read_text()
    assert _array_bytes(source, f"g_{name}_model_data") == \
        (MODELS_DIR / name / "model.tflite").read_bytes()
    assert "TINYML_ALIGN16 const unsigned char" in source


def _compile(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_generated_c_compiles_as_c99_for_both_backends(generated, tmp_path):
    sources = [str(p) for p in runtime_sources()] + sorted(str(p) for p in
                                                            generated.glob("*.c"))
    include = [*CORE_INCLUDES, f"-I{generated}"]
    for backend_flags in ([], ["-DTINYML_BACKEND_TFLM"]):
        for source in sources:
            _compile(["gcc", *C99, *backend_flags, *include, "-c", source, "-o",
                      str(tmp_path / "unit.o")], tmp_path)


RESOLVER_MAIN = """
#include <cstdio>
{includes}
int main() {{
{calls}
  return 0;
}}
"""


def test_generated_sources_compile_as_cxx17_and_resolvers_register_every_op(generated,
                                                                            tmp_path):
    include = [*CORE_INCLUDES, f"-I{generated}", f"-I{STANDIN}"]
    for source in sorted(generated.glob("*.c")):
        for backend_flags in ([], ["-DTINYML_BACKEND_TFLM"]):
            _compile(["g++", *CXX17, *backend_flags, *include, "-x", "c++", "-c", str(source),
                      "-o", str(tmp_path / "unit.o")], tmp_path)
    resolvers = sorted(p.name for p in generated.glob("*op_resolver.h"))
    calls = []
    for header in resolvers:
        function = "tinyml_register_all_ops" if header.startswith("tinyml_models") else \
            header.replace("_op_resolver.h", "_register_ops")
        calls.append(f"  {{ {function}_resolver r; if ({function}(r) != kTfLiteOk || "
                     f"r.registered() != {function}_count) return 1; }}")
    main_source = tmp_path / "resolvers.cc"
    main_source.write_text(RESOLVER_MAIN.format(
        includes="\n".join(f'#include "{h}"' for h in resolvers), calls="\n".join(calls)))
    _compile(["g++", *CXX17, *include, str(main_source), "-o", str(tmp_path / "resolvers")],
             tmp_path)
    assert subprocess.run([str(tmp_path / "resolvers")]).returncode == 0


def test_settings_carry_the_card(generated):
    settings = (generated / "activity_settings.c").read_text()
    assert '"Standing"' in settings and "input_mean[6]" in settings
    header = (generated / "digits_settings.h").read_text()
    assert "#define DIGITS_OP_COUNT 5" in header
    assert '"CONV_2D,MAX_POOL_2D,RESHAPE,FULLY_CONNECTED,SOFTMAX"' in header
    arena = int(re.search(r"DIGITS_TFLM_ARENA_BYTES (\d+)", header).group(1))
    measured = int(re.search(r"(\d+) bytes measured", header).group(1))
    assert arena >= measured + 1024 and arena % 16 == 0


def test_a_builtin_image_links_no_tflite_bytes_and_a_tflm_image_no_plan(generated, tmp_path):
    include = [*CORE_INCLUDES, f"-I{generated}"]
    sources = [str(p) for p in runtime_sources()] + sorted(str(p) for p in
                                                            generated.glob("*.c"))
    main_source = tmp_path / "main.c"
    main_source.write_text('#include "tinyml_models.h"\n'
                           "int main(void) {\n#if defined(TINYML_BACKEND_TFLM)\n"
                           "  return tinyml_tflm_models[0].model_size == 0;\n#else\n"
                           "  return tinyml_builtin_models[0]->layer_count == 0;\n#endif\n}\n")
    gc = ["-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections"]
    for flags, absent in (([], "_model_data"), (["-DTINYML_BACKEND_TFLM"], "_plan")):
        image = tmp_path / "image"
        _compile(["gcc", *C99, "-O2", *gc, *flags, *include, str(main_source), *sources, "-o",
                  str(image)], tmp_path)
        symbols = subprocess.run(["nm", str(image)], capture_output=True, text=True).stdout
        assert not re.search(rf"\bg_\w+{absent}\b", symbols), f"{absent} linked into {flags}"


def test_convert_writes_the_files_and_reports(tmp_path, capsys):
    assert main(["convert", str(MODELS_DIR / "linear" / "model.tflite"), "--out",
                 str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "linear_plan.c" in written and "tinyml_models.c" in written
    assert "plan arena" in capsys.readouterr().out


def _refused(args: list[str], out: Path, capsys, expected: str) -> None:
    before = sorted(out.iterdir()) if out.exists() else []
    assert main(["convert", *args, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and expected in error, error
    assert (sorted(out.iterdir()) if out.exists() else []) == before


def test_convert_refuses_a_missing_file(tmp_path, capsys):
    _refused([str(tmp_path / "absent.tflite")], tmp_path / "out", capsys, "model not found")


def test_convert_refuses_a_file_that_is_not_tflite(tmp_path, capsys):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"PK\x03\x04 not a flatbuffer at all")
    _refused([str(bogus)], tmp_path / "out", capsys, "not a .tflite model")


def test_convert_refuses_a_truncated_model(tmp_path, capsys):
    truncated = tmp_path / "model.tflite"
    truncated.write_bytes((MODELS_DIR / "digits" / "model.tflite").read_bytes()[:2000])
    _refused([str(truncated)], tmp_path / "out", capsys, "corrupt .tflite")


def test_convert_refuses_a_bad_name(tmp_path, capsys):
    _refused([str(MODELS_DIR / "linear" / "model.tflite"), "--name", "Bad-Name"],
             tmp_path / "out", capsys, "must be a lowercase C identifier")


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory) -> dict[str, Path]:
    """A float-I/O model and an int8 model with an op the built-in runtime lacks."""
    import tensorflow as tf

    from tests.support.modelgen import Case, convert_cases

    directory = tmp_path_factory.mktemp("odd")
    transpose = convert_cases([Case("transpose", (1, 4, 6), lambda x: tf.transpose(
        tf.reshape(x, [1, 6, 4]), [0, 2, 1]))], seed=3)[0]
    (directory / "transpose.tflite").write_bytes(transpose)

    function = tf.function(lambda x: tf.nn.relu(x) * 2.0,
                           input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], function)
    (directory / "float.tflite").write_bytes(converter.convert())
    return {"transpose": directory / "transpose.tflite", "float": directory / "float.tflite"}


def test_convert_names_an_unsupported_op_and_where_it_sits(odd_models, tmp_path, capsys):
    _refused([str(odd_models["transpose"])], tmp_path / "out", capsys,
             "TRANSPOSE is not supported by the built-in runtime")
    _refused([str(odd_models["transpose"])], tmp_path / "out", capsys, "op #1 TRANSPOSE")


def test_convert_refuses_float_input_or_output(odd_models, tmp_path, capsys):
    _refused([str(odd_models["float"])], tmp_path / "out", capsys, "is float32, expected int8")
    # ... and says how to get an int8 model, as it does for a Keras file.
    _refused([str(odd_models["float"])], tmp_path / "out", capsys, "`tinyml quantize MODEL")
    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes(b"PK\x03\x04 a zip, as .keras files are")
    _refused([str(keras_file)], tmp_path / "out", capsys,
             "not a .tflite model (no TFL3 flatbuffer identifier); for a Keras model, "
             "`tinyml quantize` makes one")


def test_a_refused_model_leaves_an_existing_directory_untouched(odd_models, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["convert", str(MODELS_DIR / "linear" / "model.tflite"), "--out",
                 str(out)]) == 0
    snapshot = {p.name: p.read_bytes() for p in out.iterdir()}
    _refused([str(odd_models["transpose"])], out, capsys, "TRANSPOSE")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == snapshot


def test_plans_name_every_field_so_the_compiler_checks_them(generated, tmp_path):
    """Designated initializers: a plan whose field names do not match the kernel's struct (here
    one renamed, as a header change would leave it) no longer compiles."""
    source = (generated / "digits_plan.c").read_text()
    assert "/* stride_w */" not in source and ".stride_w = 1," in source
    include = [*CORE_INCLUDES, f"-I{generated}"]
    renamed = tmp_path / "digits_plan.c"
    renamed.write_text(source.replace(".stride_w = ", ".stride_width = ", 1))
    result = subprocess.run(["gcc", *C99, *include, "-c", str(renamed), "-o",
                             str(tmp_path / "plan.o")], capture_output=True, text=True)
    assert result.returncode != 0 and "stride_width" in result.stderr, result.stderr
