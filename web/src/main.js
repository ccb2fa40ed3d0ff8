// The saymotion page: pick an instruction (recording or file), ask POST /api/generate, play the answer.
import { Recorder, microphoneProblem } from "./recorder.js";
import { SkeletonViewer } from "./viewer.js";

// Stop recording a little before the server's limit, so the file's length never exceeds it.
const RECORDING_MARGIN_S = 0.3;

const element = (id) => document.getElementById(id);
const ui = {
  record: element("record"),
  file: element("file"),
  clearAudio: element("clear-audio"),
  audioStatus: element("audio-status"),
  audioPreview: element("audio-preview"),
  text: element("text"),
  seed: element("seed"),
  randomSeed: element("random-seed"),
  seconds: element("seconds"),
  generate: element("generate"),
  message: element("message"),
  canvas: element("viewer"),
  placeholder: element("viewer-placeholder"),
  play: element("play"),
  scrub: element("scrub"),
  time: element("time"),
  summary: element("summary"),
  downloads: element("downloads"),
  limits: element("limits"),
};

const state = { audio: null, info: null, viewer: null, recorder: new Recorder() };

function showMessage(text, kind = "info") {
  ui.message.textContent = text;
  ui.message.className = `message ${kind}`;
  ui.message.hidden = !text;
}

function setAudio(audio) {
  state.audio = audio;
  ui.clearAudio.hidden = !audio;
  ui.audioPreview.hidden = !audio;
  if (ui.audioPreview.src) URL.revokeObjectURL(ui.audioPreview.src);
  if (audio) {
    ui.audioPreview.src = URL.createObjectURL(audio.blob);
    ui.audioStatus.textContent = audio.label;
  } else {
    ui.audioPreview.removeAttribute("src");
    ui.audioStatus.textContent = "No audio: the text alone will be used.";
  }
}

async function loadInfo() {
  const response = await fetch("/api/info");
  state.info = await response.json();
  const megabytes = state.info.max_upload_bytes / 1024 / 1024;
  ui.limits.textContent = `Up to ${state.info.max_audio_seconds} s of speech, files up to ${megabytes.toFixed(0)} MB, motions up to ${state.info.max_motion_seconds} s.`;
  ui.seconds.min = String(state.info.min_motion_seconds);
  ui.seconds.max = String(state.info.max_motion_seconds);
  ui.text.maxLength = state.info.max_text_chars;
}

async function toggleRecording() {
  if (state.recorder.recording) {
    state.recorder.stop();
    return;
  }
  const problem = microphoneProblem();
  if (problem) return showMessage(problem, "error");
  try {
    const limit = Math.max(state.info.max_audio_seconds - RECORDING_MARGIN_S, 1);
    await state.recorder.start(limit, finishRecording);
  } catch (error) {
    return showMessage(`Could not use the microphone: ${error.message}`, "error");
  }
  ui.record.textContent = "Stop";
  ui.record.classList.add("recording");
  ui.audioStatus.textContent = "Recording… speak your instruction.";
  showMessage("");
}

function finishRecording({ blob, name, seconds }) {
  ui.record.textContent = "Record";
  ui.record.classList.remove("recording");
  setAudio({ blob, name, label: `Recording, ${seconds.toFixed(1)} s.` });
}

function chooseFile() {
  const file = ui.file.files[0];
  ui.file.value = "";
  if (!file) return;
  if (file.size > state.info.max_upload_bytes) {
    const megabytes = (size) => (size / 1024 / 1024).toFixed(1);
    return showMessage(`${file.name} is ${megabytes(file.size)} MB; the limit is ${megabytes(state.info.max_upload_bytes)} MB.`, "error");
  }
  setAudio({ blob: file, name: file.name, label: `File ${file.name}.` });
  showMessage("");
}

function requestForm() {
  const form = new FormData();
  if (state.audio) form.append("audio", state.audio.blob, state.audio.name);
  const text = ui.text.value.trim();
  if (text) form.append("text", text);
  form.append("seed", ui.seed.value || "0");
  if (ui.seconds.value) form.append("seconds", ui.seconds.value);
  return form;
}

async function generate() {
  if (!state.audio && !ui.text.value.trim()) return showMessage("Record or choose an audio file, type a text, or both.", "error");
  ui.generate.disabled = true;
  showMessage("Generating…");
  try {
    const response = await fetch("/api/generate", { method: "POST", body: requestForm() });
    const answer = await response.json().catch(() => ({ detail: `${response.status} ${response.statusText}` }));
    if (!response.ok) return showMessage(answer.detail, "error");
    showMotion(answer);
    showMessage("");
  } catch (error) {
    showMessage(`The server did not answer: ${error.message}`, "error");
  } finally {
    ui.generate.disabled = false;
  }
}

function showMotion(motion) {
  if (!state.viewer) return showMessage("This browser cannot show 3D (WebGL is off); the downloads below still work.", "error");
  ui.placeholder.hidden = true;
  state.viewer.show(motion);
  ui.scrub.max = String(motion.frames - 1);
  ui.play.textContent = "Pause";
  ui.summary.textContent = `${motion.seconds.toFixed(1)} s, ${motion.frames} frames at ${motion.fps} fps, seed ${motion.seed}` +
    (motion.text ? `, “${motion.text}”` : "");
  for (const link of ui.downloads.querySelectorAll("a[data-kind]")) {
    link.href = motion.files[link.dataset.kind];
  }
  ui.downloads.hidden = false;
}

function showFrame(frame) {
  ui.scrub.value = String(frame);
  ui.time.textContent = `${(frame / state.viewer.motion.fps).toFixed(2)} s`;
}

function startViewer() {
  try {
    state.viewer = new SkeletonViewer(ui.canvas);
    state.viewer.onFrame = showFrame;
  } catch {
    ui.placeholder.textContent = "This browser cannot show 3D (WebGL is off).";
  }
  ui.play.addEventListener("click", () => {
    if (!state.viewer?.motion) return;
    state.viewer.playing = !state.viewer.playing;
    ui.play.textContent = state.viewer.playing ? "Pause" : "Play";
  });
  ui.scrub.addEventListener("input", () => {
    if (!state.viewer?.motion) return;
    state.viewer.playing = false;
    ui.play.textContent = "Play";
    state.viewer.seek(Number(ui.scrub.value));
  });
}

function main() {
  startViewer();
  setAudio(null);
  ui.record.addEventListener("click", toggleRecording);
  ui.file.addEventListener("change", chooseFile);
  ui.clearAudio.addEventListener("click", () => setAudio(null));
  ui.randomSeed.addEventListener("click", () => (ui.seed.value = String(Math.floor(Math.random() * 100000))));
  ui.generate.addEventListener("click", generate);
  loadInfo()
    .then(() => (document.body.dataset.ready = "true"))
    .catch((error) => showMessage(`Could not reach the server: ${error.message}`, "error"));
}

main();
