"""`saymotion serve`: the web app (record or upload an instruction, watch the motion in 3D) and its JSON API."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

DESCRIPTION = """\
Serve the web app at http://HOST:PORT/: record an instruction with the microphone or upload an audio
file, add a text if you like, and watch the motion in 3D with links to its BVH, MP4, NPY and OpenPose
JSON files. The same server answers the JSON API (POST /api/generate, described at /openapi.json).
The microphone works on http only at localhost; from other machines, upload files or serve behind HTTPS."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="web app and JSON API for generating motion", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 opens it to the network (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped model, or $SAYMOTION_MODEL)")
    parser.add_argument("--max-upload-mb", type=float, default=10.0,
                        help="largest accepted upload in MB (default: %(default)g)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from saymotion.errors import SaymotionError
    from saymotion.server import create_app

    if not 0 < args.port < 65536:
        raise SaymotionError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise SaymotionError(f"--max-upload-mb must be positive, got {args.max_upload_mb:g}")
    # Bound before the model loads, so a busy port is a one-line error rather than uvicorn's exit.
    listener = listening_socket(args.host, args.port)
    app = create_app(args.model, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    print(f"saymotion: serving on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[listener])
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    from saymotion.errors import SaymotionError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise SaymotionError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None
