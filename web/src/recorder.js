// Microphone recording with MediaRecorder, in whatever container the browser makes (WebM/Opus in
// Chromium and Firefox, MP4/AAC in Safari): the server decodes audio by its content.

const EXTENSIONS = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/wav": "wav" };

export function microphoneProblem() {
  if (!window.isSecureContext) return "The microphone needs https or localhost; upload a file instead.";
  if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) {
    return "This browser cannot record audio; upload a file instead.";
  }
  return null;
}

export class Recorder {
  // Stops by itself after maxSeconds; onStop receives {blob, name, seconds}.
  async start(maxSeconds, onStop) {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    this.recorder = new MediaRecorder(this.stream);
    const chunks = [];
    const started = performance.now();
    this.recorder.ondataavailable = (event) => chunks.push(event.data);
    this.recorder.onstop = () => {
      clearTimeout(this.limit);
      this.stream.getTracks().forEach((track) => track.stop());
      const type = this.recorder.mimeType || "audio/webm";
      const extension = EXTENSIONS[type.split(";")[0]] ?? "webm";
      onStop({ blob: new Blob(chunks, { type }), name: `recording.${extension}`, seconds: (performance.now() - started) / 1000 });
    };
    this.recorder.start();
    this.limit = setTimeout(() => this.stop(), maxSeconds * 1000);
  }

  get recording() {
    return this.recorder?.state === "recording";
  }

  stop() {
    if (this.recording) this.recorder.stop();
  }
}
