"""The web app and JSON API behind `saymotion serve`.

    app = create_app(model_dir)          # loads the model once; serve with uvicorn
    POST /api/generate                   # multipart: audio (file) and/or text, seed, seconds
    GET  /api/results/<id>/<file>        # motion.bvh, preview.mp4, motion.npy, pose2d.json
    GET  /api/info                       # limits the page shows (audio seconds, upload size)
    GET  /openapi.json                   # the API description
    GET  /                               # the page: record or upload, then a three.js viewer

Uploads are decoded by their content, never by their file name or content type: a WAV named
`.mp3` or `.txt` works, text named `.wav` is refused. A WAV cut short inside its samples is used up to
where it stops, as players do; one cut inside its header is refused. Bad input gets a 4xx answer
`{"detail": "<one line>"}`; nothing else is sent back on failure.

Generation runs one request at a time under a lock in the threadpool (the model is not thread-safe and
already uses every core); decoding, file writing and video rendering run beside it. Each request
writes into its own folder (a random id) under the results folder, kept for an hour.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from saymotion import __version__, settings
from saymotion.audio import SAMPLE_RATE
from saymotion.config import downsampling_factor
from saymotion.errors import AudioError, SaymotionError
from saymotion.fileio import read_json, write_json
from saymotion.pipeline import Motion, Pipeline
from saymotion.skeleton import TARGET_FPS, side_of

WEB_DIR = settings.PACKAGE_DIR / "assets" / "web"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 500
MAX_SEED = 2**31 - 1
RESULT_TTL_S = 3600.0
# Joint positions are sent to 1 micrometre: exact enough for any use, half the JSON of full floats.
JOINT_DECIMALS = 6

RESULT_FILES = {"bvh": "motion.bvh", "mp4": "preview.mp4", "npy": "motion.npy", "pose": "pose2d.json"}
MEDIA_TYPES = {".bvh": "text/plain", ".mp4": "video/mp4", ".npy": "application/octet-stream",
               ".json": "application/json"}
RESULT_RECORD = "result.json"
VIDEO_SIZE = 480

logger = logging.getLogger("saymotion.server")


class ErrorResponse(BaseModel):
    detail: str


class ServerInfo(BaseModel):
    version: str
    max_audio_seconds: float
    min_motion_seconds: float
    max_motion_seconds: float
    max_upload_bytes: int
    max_text_chars: int


class GenerateResponse(BaseModel):
    id: str
    joints: list[list[list[float]]]  # frames x joints x 3, metres, +Y up
    joint_names: list[str]
    parents: list[int]
    sides: list[str]  # per joint: left, right or centre (for colouring)
    fps: float
    frames: int
    seconds: float
    seed: int
    text: str | None
    files: dict[str, str]  # kind (bvh, mp4, npy, pose) -> URL


@dataclass(frozen=True)
class Instruction:
    audio: bytes | None
    audio_name: str
    text: str | None
    seed: int
    seconds: float | None


class MotionService:
    """Turns instructions into result folders, one generation at a time."""

    def __init__(self, pipeline: Pipeline, results_dir: Path, result_ttl_s: float):
        self.pipeline = pipeline
        self.results_dir = results_dir
        self.result_ttl_s = result_ttl_s
        self._model_lock = threading.Lock()

    @property
    def motion_seconds(self) -> tuple[float, float]:
        """The shortest (one motion token) and longest motion the model makes."""
        generator = self.pipeline.generator
        return downsampling_factor(generator.config) / TARGET_FPS, generator.max_seconds

    def generate(self, instruction: Instruction) -> GenerateResponse:
        waveform = None if instruction.audio is None else self._decode(instruction)
        with self._model_lock:
            motion = self.pipeline.generate(
                audio=waveform, sample_rate=SAMPLE_RATE, text=instruction.text,
                seconds=instruction.seconds, seed=instruction.seed,
            )[0]
        self._prune_old_results()
        return self._save(motion, instruction)

    def result_file(self, result_id: str, name: str) -> Path:
        """A result's file; the preview video is rendered on its first download."""
        folder = self.results_dir / result_id
        if not (_is_result_id(result_id) and name in RESULT_FILES.values() and (folder / RESULT_RECORD).is_file()):
            raise HTTPException(404, f"no result file {result_id}/{name} (results are kept for "
                                     f"{self.result_ttl_s / 60:g} minutes)")
        path = folder / name
        if name == RESULT_FILES["mp4"] and not path.is_file():
            self._render_video(folder, path)
        return path

    def _decode(self, instruction: Instruction) -> np.ndarray:
        try:
            return self.pipeline.waveform(instruction.audio)
        except AudioError as error:
            # read_audio names byte input "audio bytes"; the user knows it by the uploaded name.
            reason = str(error).removeprefix("audio bytes: ")
            raise AudioError(f"{instruction.audio_name}: {reason}") from None

    def _save(self, motion: Motion, instruction: Instruction) -> GenerateResponse:
        result_id = uuid.uuid4().hex
        folder = self.results_dir / result_id
        folder.mkdir(parents=True)
        motion.save_npy(folder / RESULT_FILES["npy"])
        motion.save_bvh(folder / RESULT_FILES["bvh"])
        motion.save_pose2d(folder / RESULT_FILES["pose"])
        response = GenerateResponse(
            id=result_id,
            joints=np.round(motion.joints.astype(np.float64), JOINT_DECIMALS).tolist(),
            joint_names=list(motion.skeleton.joint_names),
            parents=list(motion.skeleton.parents),
            sides=[side_of(name) or "centre" for name in motion.skeleton.joint_names],
            fps=motion.fps,
            frames=len(motion.joints),
            seconds=motion.seconds,
            seed=instruction.seed,
            text=instruction.text,
            files={kind: f"/api/results/{result_id}/{name}" for kind, name in RESULT_FILES.items()},
        )
        # Written last: its presence marks the folder complete for downloads.
        write_json(folder / RESULT_RECORD, response.model_dump(exclude={"joints"}))
        return response

    def _render_video(self, folder: Path, path: Path) -> None:
        from saymotion.render import render_motion

        # Two first downloads may render at once; the atomic write makes that harmless.
        record = read_json(folder / RESULT_RECORD)
        render_motion(np.load(folder / RESULT_FILES["npy"]), record["parents"], path, fps=record["fps"],
                      caption=record["text"], size=VIDEO_SIZE, joint_names=record["joint_names"])

    def _prune_old_results(self) -> None:
        cutoff = time.time() - self.result_ttl_s
        for folder in self.results_dir.iterdir():
            # Another request may be pruning the same folder right now.
            with contextlib.suppress(FileNotFoundError):
                if _is_result_id(folder.name) and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)


def create_app(
    model_dir: str | os.PathLike | None = None,
    *,
    pipeline: Pipeline | None = None,
    results_dir: str | os.PathLike | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    result_ttl_s: float = RESULT_TTL_S,
) -> FastAPI:
    """The web app on the model in `model_dir` (default: the shipped model), or on a loaded `pipeline`.
    Results go under `results_dir`, or a temporary folder removed at shutdown."""
    pipeline = pipeline or Pipeline.load(model_dir)
    own_results = results_dir is None
    results = Path(results_dir) if results_dir else Path(tempfile.mkdtemp(prefix="saymotion-serve-"))
    service = MotionService(pipeline, results, result_ttl_s)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if own_results:
            shutil.rmtree(results, ignore_errors=True)

    # The interactive /docs pages load scripts from a CDN, so only /openapi.json is served.
    app = FastAPI(title="saymotion", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Spoken and/or written instructions to 3D human motion.")
    app.state.service = service
    _add_request_checks(app, max_upload_bytes)
    _add_api_routes(app, service, max_upload_bytes)
    _add_page_routes(app)
    return app


def _add_api_routes(app: FastAPI, service: MotionService, max_upload_bytes: int) -> None:
    errors = {status: {"model": ErrorResponse} for status in (400, 411, 413, 422)}
    min_seconds, max_seconds = service.motion_seconds

    @app.get("/api/info", response_model=ServerInfo)
    def info() -> ServerInfo:
        return ServerInfo(version=__version__, max_audio_seconds=service.pipeline.max_audio_seconds,
                          min_motion_seconds=min_seconds, max_motion_seconds=max_seconds,
                          max_upload_bytes=max_upload_bytes, max_text_chars=MAX_TEXT_CHARS)

    @app.post("/api/generate", response_model=GenerateResponse, responses=errors,
              description="One motion for a spoken instruction (`audio`, any common format, decoded by its "
                          "content), a written one (`text`), or both: the audio says what to do, the text how. "
                          "The same inputs and seed give the same motion.")
    async def generate(
        audio: UploadFile | None = File(None, description="the spoken instruction (WAV, FLAC, OGG, MP3, WebM, M4A, ...)"),
        text: str | None = Form(None, description=f"a written instruction, up to {MAX_TEXT_CHARS} characters"),
        seed: int = Form(0, ge=0, le=MAX_SEED, description="random seed"),
        seconds: float | None = Form(None, ge=min_seconds, le=max_seconds,
                                     description="motion length in seconds (default: predicted)"),
    ) -> GenerateResponse:
        instruction = Instruction(
            audio=await _read_upload(audio),
            audio_name=(audio.filename if audio else None) or "the uploaded audio",
            text=_clean_text(text), seed=seed, seconds=seconds,
        )
        if instruction.audio is None and instruction.text is None:
            raise SaymotionError("give an audio file, a text, or both")
        return await run_in_threadpool(service.generate, instruction)

    @app.get("/api/results/{result_id}/{name}", response_class=FileResponse, responses={404: {"model": ErrorResponse}})
    async def result_file(result_id: str, name: str) -> FileResponse:
        path = await run_in_threadpool(service.result_file, result_id, name)
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], filename=f"saymotion-{result_id[:8]}-{name}")


def _add_page_routes(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")


def _add_request_checks(app: FastAPI, max_upload_bytes: int) -> None:
    @app.middleware("http")
    async def limit_request_size(request: Request, call_next):
        # Checked before the body is read, so an oversized upload is refused without being stored.
        if request.method == "POST":
            length = request.headers.get("content-length", "")
            if not length.isdigit():
                return _error(411, "send the request with a Content-Length header")
            if int(length) > max_upload_bytes:
                return _error(413, f"the upload is {_megabytes(int(length))}; the limit is {_megabytes(max_upload_bytes)}")
        return await call_next(request)

    @app.exception_handler(SaymotionError)
    async def user_error(_: Request, error: SaymotionError) -> JSONResponse:
        return _error(400, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_field(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if part not in ("body", "query", "path"))
        return _error(422, f"{field}: {first['msg']}" if field else first["msg"])

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=error)
        return _error(500, f"internal error ({type(error).__name__}); see the server log")


async def _read_upload(upload: UploadFile | None) -> bytes | None:
    # A form whose file input was left empty still sends a part, with no name and no bytes.
    # The request size limit (checked before parsing) also bounds the file.
    if upload is None or not (upload.filename or upload.size):
        return None
    return await upload.read()


def _clean_text(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    if len(text) > MAX_TEXT_CHARS:
        raise SaymotionError(f"the text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    return text or None


def _is_result_id(name: str) -> bool:
    return len(name) == 32 and all(char in "0123456789abcdef" for char in name)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(message.split())}, status_code=status)


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
