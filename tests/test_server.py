"""The web app's JSON API (saymotion.server) on the tiny model, through FastAPI's test client."""

from __future__ import annotations

import io
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from saymotion import Pipeline
from saymotion.bvh import read_bvh
from saymotion.cli import main as cli_main
from saymotion.server import MAX_TEXT_CHARS, create_app
from test_pipeline import tone_with_syllables

JOINT_TOLERANCE = 1e-6  # the API rounds joint positions to micrometres


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, subtype=subtype, format="WAV")
    return buffer.getvalue()


SPEECH = wav_bytes(tone_with_syllables(), 22_050)


@pytest.fixture(scope="module")
def pipeline(tiny_speech_model: Path) -> Pipeline:
    return Pipeline.load(tiny_speech_model)


@pytest.fixture(scope="module")
def client(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory):
    app = create_app(pipeline=pipeline, results_dir=tmp_path_factory.mktemp("results"), max_upload_bytes=10 * 1024 * 1024)
    with TestClient(app) as test_client:
        yield test_client


def post(client: TestClient, audio: bytes | None = None, name: str = "say.wav", **fields):
    files = {"audio": (name, audio, "application/octet-stream")} if audio is not None else None
    return client.post("/api/generate", files=files, data={key: str(value) for key, value in fields.items()})


def joints_of(answer: dict) -> np.ndarray:
    return np.asarray(answer["joints"], dtype=np.float64)


def assert_one_line_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str)
    assert fragment in body["detail"] and "\n" not in body["detail"] and "Traceback" not in response.text


def test_generate_from_audio_text_or_both_matches_the_pipeline(client: TestClient, pipeline: Pipeline):
    requests = {
        "audio": ({"audio": SPEECH}, {"audio": SPEECH}),
        "text": ({"text": "waves the left hand"}, {"text": "waves the left hand"}),
        "both": ({"audio": SPEECH, "text": "like an elderly person"}, {"audio": SPEECH, "text": "like an elderly person"}),
    }
    answers = {}
    for kind, (fields, direct_inputs) in requests.items():
        response = post(client, seed=5, seconds=2.0, **fields)
        assert response.status_code == 200, response.text
        answer = answers[kind] = response.json()
        expected = pipeline.generate(**direct_inputs, seconds=2.0, seed=5)[0]
        np.testing.assert_allclose(joints_of(answer), expected.joints, atol=JOINT_TOLERANCE, rtol=0)
        assert answer["frames"] == len(expected.joints) == 40 and answer["fps"] == expected.fps
        assert answer["joint_names"] == list(expected.skeleton.joint_names)
        assert answer["parents"] == list(expected.skeleton.parents)
        assert answer["sides"][answer["joint_names"].index("Hand_L")] == "left" and answer["sides"][0] == "centre"
        assert answer["seed"] == 5 and set(answer["files"]) == {"bvh", "mp4", "npy", "pose"}
    assert not np.allclose(joints_of(answers["audio"]), joints_of(answers["both"]))
    assert len({answer["id"] for answer in answers.values()}) == 3


def test_twenty_concurrent_requests_get_their_own_results(client: TestClient, pipeline: Pipeline):
    seeds = list(range(15)) + list(range(5))  # five seeds asked twice: those answers must be identical

    def generate_and_download(seed: int) -> tuple[dict, np.ndarray]:
        answer = post(client, SPEECH, seed=seed, seconds=1.6).json()
        return answer, np.load(io.BytesIO(client.get(answer["files"]["npy"]).content))

    with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
        results = list(pool.map(generate_and_download, seeds))
    expected = {seed: pipeline.generate(audio=SPEECH, seconds=1.6, seed=seed)[0].joints for seed in set(seeds)}
    for seed, (answer, downloaded) in zip(seeds, results):
        assert answer["seed"] == seed
        np.testing.assert_allclose(joints_of(answer), expected[seed], atol=JOINT_TOLERANCE, rtol=0)
        np.testing.assert_array_equal(downloaded, expected[seed])
    assert len({answer["id"] for answer, _ in results}) == len(seeds)
    by_seed = {seed: joints_of(answer) for seed, (answer, _) in zip(seeds, results)}
    assert all(not np.allclose(by_seed[a], by_seed[b]) for a in by_seed for b in by_seed if a < b)
    for seed, (answer, _) in list(zip(seeds, results))[15:]:
        np.testing.assert_array_equal(joints_of(answer), by_seed[seed])


def test_openapi_describes_generate(client: TestClient):
    schema = client.get("/openapi.json").json()
    generate = schema["paths"]["/api/generate"]["post"]
    form = generate["requestBody"]["content"]["multipart/form-data"]["schema"]
    fields = schema["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"audio", "text", "seed", "seconds"} <= set(fields)
    answer = schema["components"]["schemas"]["GenerateResponse"]["properties"]
    assert {"joints", "joint_names", "parents", "fps", "files"} <= set(answer)
    assert {"400", "413", "422"} <= set(generate["responses"])


def test_result_files_download(client: TestClient, tmp_path: Path):
    answer = post(client, text="walks forward", seed=2, seconds=1.2).json()
    downloads = {kind: client.get(url) for kind, url in answer["files"].items()}
    assert all(response.status_code == 200 for response in downloads.values())
    assert all(response.headers["content-disposition"].startswith("attachment") for response in downloads.values())
    np.testing.assert_allclose(np.load(io.BytesIO(downloads["npy"].content)), joints_of(answer), atol=JOINT_TOLERANCE)
    (tmp_path / "motion.bvh").write_bytes(downloads["bvh"].content)
    assert read_bvh(tmp_path / "motion.bvh").num_frames == answer["frames"]
    assert len(json.loads(downloads["pose"].content)["frames"]) == answer["frames"]
    video = downloads["mp4"]
    assert video.headers["content-type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    assert client.get(answer["files"]["mp4"]).content == video.content  # rendered once, then served


@pytest.mark.parametrize("url", ["/api/results/0123456789abcdef0123456789abcdef/motion.bvh",
                                 "/api/results/not-an-id/motion.bvh", "/api/results/{id}/generation.py"])
def test_unknown_result_files_are_404(client: TestClient, url: str):
    real_id = post(client, text="bows", seed=0).json()["id"]
    assert_one_line_error(client.get(url.format(id=real_id)), 404, "no result file")


def long_tone_u8(seconds: float, rate: int = 8000) -> bytes:
    # 8-bit at 8 kHz keeps ten minutes under the upload limit, so the duration check is what answers.
    return wav_bytes(np.resize(tone_with_syllables(1.0, rate), int(seconds * rate)), rate, "PCM_U8")


def with_nans() -> bytes:
    samples = tone_with_syllables()
    samples[100:200] = np.nan
    return wav_bytes(samples, 22_050, "FLOAT")


BAD_INPUTS: dict[str, tuple[Callable[[], dict], int, str]] = {
    "empty-file": (lambda: {"audio": b""}, 400, "say.wav: the file is empty"),
    "silent": (lambda: {"audio": wav_bytes(np.zeros(16_000, np.float32), 16_000)}, 400, "silent"),
    "truncated-header": (lambda: {"audio": SPEECH[:30]}, 400, "not a readable audio file"),
    "non-audio-bytes": (lambda: {"audio": np.random.default_rng(0).bytes(5000)}, 400, "not a readable audio file"),
    "text-file": (lambda: {"audio": b"walk forward " * 100, "name": "notes.txt"}, 400, "notes.txt: not a readable audio file"),
    "ten-minutes": (lambda: {"audio": long_tone_u8(600.0)}, 400, "say.wav: 600.0 s of audio is longer than the"),
    "nan-samples": (lambda: {"audio": with_nans()}, 400, "NaN"),
    "nothing": (lambda: {}, 400, "give an audio file, a text, or both"),
    "blank-text": (lambda: {"text": "   "}, 400, "give an audio file, a text, or both"),
    "long-text": (lambda: {"text": "a" * (MAX_TEXT_CHARS + 1)}, 400, f"the limit is {MAX_TEXT_CHARS}"),
    "oversize": (lambda: {"audio": bytes(11 * 1024 * 1024)}, 413, "the limit is 10.0 MB"),
    "bad-seed": (lambda: {"text": "walk", "seed": "seven"}, 422, "seed:"),
    "negative-seed": (lambda: {"text": "walk", "seed": -1}, 422, "seed:"),
    "too-long-motion": (lambda: {"text": "walk", "seconds": 99}, 422, "seconds: Input should be less than or equal to"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_one_line_4xx(client: TestClient, case):
    make_fields, status, fragment = case
    assert_one_line_error(post(client, **make_fields()), status, fragment)


ODD_BUT_FINE = {
    "8-bit": lambda: wav_bytes(tone_with_syllables(1.5, 16_000), 16_000, "PCM_U8"),
    "stereo": lambda: wav_bytes(np.stack([tone_with_syllables(), 0.5 * tone_with_syllables()], axis=1), 22_050),
    "44.1kHz": lambda: wav_bytes(tone_with_syllables(1.5, 44_100), 44_100),
    "flac": lambda: _flac(tone_with_syllables(1.5, 16_000), 16_000),
    # Cut inside the samples: the part that arrived is used, as players do.
    "truncated-samples": lambda: SPEECH[: len(SPEECH) * 2 // 3],
}


def _flac(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC")
    return buffer.getvalue()


@pytest.mark.parametrize("make_audio", ODD_BUT_FINE.values(), ids=ODD_BUT_FINE.keys())
def test_common_audio_variants_are_accepted(client: TestClient, pipeline: Pipeline, make_audio):
    audio = make_audio()
    response = post(client, audio, seed=1, seconds=1.0)
    assert response.status_code == 200, response.text
    expected = pipeline.generate(audio=audio, seed=1, seconds=1.0)[0].joints
    np.testing.assert_allclose(joints_of(response.json()), expected, atol=JOINT_TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", ["say.mp3", "say.txt", "recording"])
def test_audio_is_decoded_by_content_not_by_name(client: TestClient, name: str):
    reference = joints_of(post(client, SPEECH, "say.wav", seed=4, seconds=1.0).json())
    response = post(client, SPEECH, name, seed=4, seconds=1.0)
    assert response.status_code == 200, response.text
    np.testing.assert_array_equal(joints_of(response.json()), reference)


def test_page_and_its_assets_are_served(client: TestClient):
    page = client.get("/")
    assert page.status_code == 200 and 'id="viewer"' in page.text and "/static/app.js" in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "Three.js Authors" in script.text  # the bundled three.js licence
    assert client.get("/static/style.css").status_code == 200
    info = client.get("/api/info").json()
    assert info["max_audio_seconds"] == 4.0 and info["max_upload_bytes"] == 10 * 1024 * 1024


def test_old_results_are_pruned_and_the_temporary_folder_removed(pipeline: Pipeline):
    app = create_app(pipeline=pipeline, result_ttl_s=0.0)
    results_dir = app.state.service.results_dir
    with TestClient(app) as client:
        first = post(client, text="walk", seed=0).json()["id"]
        second = post(client, text="walk", seed=0).json()["id"]
        assert not (results_dir / first).exists() and (results_dir / second).is_dir()
    assert not results_dir.exists()


def test_serve_help_and_busy_port(tiny_speech_model: Path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["serve", "--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert all(option in usage for option in ("--host", "--port", "--model"))
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert cli_main(["serve", "--port", str(port), "--model", str(tiny_speech_model)]) == 2
    error = capsys.readouterr().err.strip()
    assert f"cannot listen on 127.0.0.1:{port}" in error and len(error.splitlines()) == 1
