// authsvc web SDK: liveness capture under a script and EDS signing through NCALayer, as one ES module.
// The hosted page uses it as it is; a lender embeds it in its own page (see README, "Hosted page").
// It talks to no server itself: the caller fetches the script / challenge and uploads what it returns.

/** NCALayer failures, each with a kind a page can put into words. */
export class NcaLayerError extends Error {
  /** @param {"not_running"|"cancelled"|"wrong_password"|"no_key"|"expired"|"failed"} kind */
  constructor(kind, message) {
    super(message || kind);
    this.name = "NcaLayerError";
    this.kind = kind;
  }
}

// NCALayer's commonUtils answers {code: "500", message: key}; action.canceled is NCALayer's own key, the
// others are what the simulator (simulators/ncalayer) and NCALayer's dialogs report for those cases.
const NCALAYER_KINDS = {
  "action.canceled": "cancelled",
  "password.incorrect": "wrong_password",
  "storage.empty": "no_key",
  "certificate.expired": "expired",
};

export function ncaLayerKind(message) {
  const text = String(message || "");
  if (NCALAYER_KINDS[text]) return NCALAYER_KINDS[text];
  if (/cancel/i.test(text)) return "cancelled";
  if (/password|пароль/i.test(text)) return "wrong_password";
  if (/expired|истек/i.test(text)) return "expired";
  return "failed";
}

/** A client of NCALayer's local WebSocket (modules kz.gov.pki.knca.commonUtils and kz.gov.pki.knca.basics). */
export class NcaLayer {
  constructor(url = "wss://127.0.0.1:13579", { timeoutMs = 4000 } = {}) {
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.ws = null;
    this.pending = null;
    this.version = null;
  }

  /** Open the socket; resolves NCALayer's version, rejects NcaLayerError("not_running"). */
  connect() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(this.version);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = () => {
        if (settled) return;
        settled = true;
        reject(new NcaLayerError("not_running", "NCALayer is not running"));
      };
      const timer = setTimeout(fail, this.timeoutMs);
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        clearTimeout(timer);
        fail();
        return;
      }
      this.ws = ws;
      ws.onerror = () => { clearTimeout(timer); fail(); };
      ws.onclose = () => {
        clearTimeout(timer);
        fail();
        if (this.pending) this.pending.reject(new NcaLayerError("not_running", "NCALayer closed the connection"));
        this.pending = null;
        this.ws = null;
      };
      ws.onmessage = (event) => {
        let reply;
        try { reply = JSON.parse(event.data); } catch (e) { return; }
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          this.version = reply && reply.result ? reply.result.version : null;
          resolve(this.version);
          return;
        }
        const waiting = this.pending;
        this.pending = null;
        if (waiting) waiting.resolve(reply);
      };
    });
  }

  /** One request and its answer (NCALayer answers one at a time, in order). */
  async call(module, method, args) {
    await this.connect();
    if (this.pending) throw new NcaLayerError("failed", "another NCALayer request is in progress");
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.ws.send(JSON.stringify(args === undefined ? { module, method } : { module, method, args }));
    });
  }

  async common(method, args) {
    const reply = await this.call("kz.gov.pki.knca.commonUtils", method, args);
    if (reply.code !== "200") throw new NcaLayerError(ncaLayerKind(reply.message), reply.message);
    return reply.responseObject;
  }

  /** The key the person picks in NCALayer (alias, algorithm, subjectDn, certNotAfter, pem, …). */
  keyInfo(storage = "PKCS12") {
    return this.common("getKeyInfo", [storage]);
  }

  /** Hardware token types plugged in (a file keystore, "PKCS12", is always offered besides). */
  activeTokens() {
    return this.common("getActiveTokens");
  }

  /** createCMSSignatureFromBase64: base64 of a DER CMS over `dataBase64` (attached unless told). */
  signBase64(dataBase64, { attached = true, storage = "PKCS12", keyType = "SIGNATURE" } = {}) {
    return this.common("createCMSSignatureFromBase64", [storage, keyType, dataBase64, attached]);
  }

  /** The basics module's sign (CAdES of base64 data); resolves the CMS. */
  async basicsSign(dataBase64, { attached = true, storages = ["PKCS12"], locale = "ru" } = {}) {
    const reply = await this.call("kz.gov.pki.knca.basics", "sign", {
      allowedStorages: storages,
      format: "cms",
      data: dataBase64,
      signingParams: { decode: true, encapsulate: attached, digested: false },
      signerParams: { extKeyUsageOids: [] },
      locale,
    });
    if (reply.status === true && reply.body && Array.isArray(reply.body.result)) return reply.body.result[0];
    if (reply.status === true) throw new NcaLayerError("cancelled", "cancelled");
    throw new NcaLayerError(ncaLayerKind(reply.details || reply.message), reply.message);
  }

  close() {
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}

/** Camera failures: "denied" (permission refused), "absent" (no camera), "failed" (anything else). */
export class CameraError extends Error {
  constructor(kind, message) {
    super(message || kind);
    this.name = "CameraError";
    this.kind = kind;
  }
}

/** Open the front camera into `video`; resolves the MediaStream. */
export async function openCamera(video, { width = 640, height = 480 } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new CameraError("absent");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: "user", width: { ideal: width }, height: { ideal: height } },
    });
  } catch (e) {
    const name = e && e.name;
    if (name === "NotAllowedError" || name === "SecurityError") throw new CameraError("denied", e.message);
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "NotReadableError") {
      throw new CameraError("absent", e.message);
    }
    throw new CameraError("failed", e && e.message);
  }
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await video.play();
  return stream;
}

export function stopCamera(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

function nextFrame(video) {
  return new Promise((resolve) => video.requestVideoFrameCallback((now, meta) => resolve({ now, meta })));
}

// When the camera took the frame, on performance.now()'s clock (captureTime where the browser gives it).
function frameTime(now, meta) {
  const t = meta && typeof meta.captureTime === "number" ? meta.captureTime : null;
  return t !== null && t > now - 1000 && t <= now + 50 ? t : now;
}

function flashAt(script, t) {
  for (const f of script.flashes || []) if (f.start_ms <= t && t < f.end_ms) return f;
  return null;
}

function actionAt(script, t) {
  for (const a of script.actions || []) if (a.start_ms <= t && t < a.end_ms) return a;
  return null;
}

/**
 * Record the capture a liveness script asks for, from a playing `video` (see openCamera).
 * A countdown of `countdownMs` from the first frame, then `script.duration_ms` of frames with their times
 * (ms from the start of recording), the screen flashed in the script's colours at the script's times on
 * `flash` (a full-screen element), the script's actions announced through `onPrompt(kind|null, secondsLeft)`.
 * Resolves {frames: Blob[] (JPEG), timestamps_ms, flash_times_ms (when each flash was painted), started_at}.
 */
export async function recordScript({
  video,
  script,
  flash,
  onPrompt = () => {},
  onCountdown = () => {},
  countdownMs = 3000,
  quality = 0.8,
  maxSide = 640,
}) {
  // Times come from the camera's own clock (each frame's mediaTime, seconds since the camera started):
  // recording starts `countdownMs` into it, and the screen's clock is tied to it by the first frame.
  const first = await nextFrame(video);
  const firstMedia = first.meta.mediaTime;
  const screenAtMediaZero = frameTime(first.now, first.meta) - firstMedia * 1000;
  let startMedia = countdownMs / 1000;
  if (startMedia - firstMedia < 1) startMedia = firstMedia + countdownMs / 1000; // a camera clock not from 0
  const endMedia = startMedia + script.duration_ms / 1000;
  const t0 = screenAtMediaZero + startMedia * 1000;
  const end = t0 + script.duration_ms;
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth || maxSide, video.videoHeight || maxSide));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round((video.videoWidth || 640) * scale);
  canvas.height = Math.round((video.videoHeight || 480) * scale);
  const ctx = canvas.getContext("2d", { alpha: false });
  const blobs = [];
  const times = [];
  const painted = (script.flashes || []).map(() => null);
  let frameMs = 1000 / 60;
  let lastTick = null;
  let shown = null;

  await new Promise((resolve) => {
    // The screen: flashes and prompts on animation frames. A colour is put up for the frame about to be
    // shown (half a frame ahead), so the painted time is within half a frame of the script's.
    const tick = (now) => {
      if (lastTick !== null) frameMs = 0.9 * frameMs + 0.1 * Math.min(now - lastTick, 100);
      lastTick = now;
      const t = now - t0;
      const ahead = t + frameMs / 2;
      if (ahead < 0) {
        onCountdown(Math.ceil(-t / 1000));
        requestAnimationFrame(tick);
        return;
      }
      const f = ahead < script.duration_ms ? flashAt(script, ahead) : null;
      if (f !== shown) {
        shown = f;
        if (f) {
          const i = script.flashes.indexOf(f);
          if (painted[i] === null) painted[i] = Math.round(t * 100) / 100;
          flash.style.backgroundColor = `rgb(${f.colour[0]}, ${f.colour[1]}, ${f.colour[2]})`;
          flash.hidden = false;
        } else {
          flash.hidden = true;
        }
      }
      const a = actionAt(script, t + 300); // announced a little ahead: people react in ~300 ms
      onPrompt(a ? a.kind : null, Math.max(0, Math.ceil((script.duration_ms - t) / 1000)));
      if (now < end) requestAnimationFrame(tick);
      else {
        flash.hidden = true;
        onPrompt(null, 0);
        resolve();
      }
    };
    requestAnimationFrame(tick);

    // The camera: every new frame inside the recording, with its own time.
    const grab = (now, meta) => {
      const at = meta.mediaTime;
      if (at >= startMedia && at <= endMedia) {
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        times.push(Math.round((at - startMedia) * 100000) / 100);
        blobs.push(new Promise((ok) => canvas.toBlob(ok, "image/jpeg", quality)));
      }
      if (at <= endMedia) video.requestVideoFrameCallback(grab);
    };
    video.requestVideoFrameCallback(grab);
  });
  const frames = await Promise.all(blobs);
  return { frames, timestamps_ms: times, flash_times_ms: painted, started_at: t0 };
}

/**
 * The capture as the service's upload: challenge_id, frame parts in order, timestamps_ms; with
 * `flashTimes` also flash_times_ms (the hosted page's endpoint takes it; POST /v1/.../liveness does not).
 */
export function captureForm(challengeId, capture, { flashTimes = false } = {}) {
  const form = new FormData();
  form.append("challenge_id", challengeId);
  capture.frames.forEach((blob, i) => form.append("frame", blob, `frame-${i}.jpg`));
  form.append("timestamps_ms", JSON.stringify(capture.timestamps_ms));
  if (flashTimes) form.append("flash_times_ms", JSON.stringify(capture.flash_times_ms));
  return form;
}
