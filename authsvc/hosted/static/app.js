// The hosted onboarding page: the steps its link's identification still needs, driven through the page's
// own endpoints (/hosted/api/*, authenticated by the link's session cookie; never an API key).
import { translate } from "/hosted/static/i18n.js";
import { CameraError, NcaLayer, NcaLayerError, captureForm, openCamera, recordScript, stopCamera } from "/hosted/static/sdk.js";

const $ = (id) => document.getElementById(id);
const MAX_LIVENESS_TRIES = 3;
// Reasons a person can put right on another try (the service counts every failed try against the
// identification's limit, so offering one gives an attack nothing).
const FIXABLE = ["no_face", "partial_face", "multiple_faces", "face_too_small", "too_dark", "blink", "script_followed", "reaction_timing", "colour_flash", "flash_timing", "frame_integrity"];
// A face out of the frame (or none, or several), too far or too dark fails the other checks with it, and the
// service names it first: the person is told that alone.
const FRAMING = ["no_face", "partial_face", "multiple_faces", "face_too_small", "too_dark"];
// chosen: the step the person picked among those still open (the first one otherwise); busy: a capture or
// a signature is under way, and no other step may be picked meanwhile.
const page = { locale: "ru", state: null, stream: null, tries: 0, resendTimer: null, script: null, scriptAt: 0, chosen: null, busy: false, document: null };
// The service's refusals of an identity document image, in the words the page says them with.
const DOCUMENT_WORDS = {
  document_no_portrait: "no_portrait",
  document_pdf_no_image: "no_portrait",
  document_multiple_portraits: "multiple",
  document_portrait_too_small: "too_small",
  image_too_small: "too_small",
  document_blurred: "blurred",
  document_pdf_unreadable: "file",
  document_pdf_encrypted: "file",
  document_pdf_multiple_pages: "file",
  document_pdf_too_complex: "file",
  unsupported_file_type: "file",
  corrupt_image: "file",
  image_too_large: "file",
  image_undecodable: "file",
  file_too_large: "file",
  empty_file: "file",
};
// What the page recorded, for people and tests to look at (never sent anywhere else).
window.authsvcHosted = { events: [] };

function t(key, vars) {
  return translate(page.locale, key, vars);
}

function note(kind, data = {}) {
  window.authsvcHosted.events.push({ ...data, kind, at: Math.round(performance.now()) });
}

function setLocale(locale) {
  page.locale = locale;
  document.documentElement.lang = locale;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const b of document.querySelectorAll("#languages button")) b.setAttribute("aria-pressed", String(b.dataset.lang === locale));
  if (page.state) {
    renderSteps();
    renderChoices();
    const step = current(); // the status line says the step again, not "Loading…"
    $("status").textContent = t(step ? `step.${step.method}` : "done.title");
  }
}

function say(id, key, ok, vars) {
  const el = $(id);
  el.textContent = key ? t(key, vars) : "";
  el.dataset.key = key || "";
  if (ok !== undefined) el.dataset.ok = String(ok);
}

class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    super(problem.detail || problem.code || String(status));
    this.status = status;
    this.retryAfter = Number(retryAfter) || null; // seconds, from a 429's Retry-After
    this.code = problem.code;
    this.problem = problem;
  }
}

async function api(path, { method = "POST", json, form, file } = {}) {
  const init = { method, credentials: "same-origin", headers: { "X-Hosted-Page": "1" } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  } else if (file) {
    init.headers["Content-Type"] = file.type || "application/octet-stream";
    init.body = file;
  }
  let resp;
  try {
    resp = await fetch(`/hosted/api/${path}`, init);
  } catch (e) {
    throw new ApiError(0, { code: "network" });
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, body, resp.headers.get("Retry-After"));
  return body;
}

function generalError(id, err) {
  if (err.code === "hosted_session_required") say(id, "error.session", false);
  else if (err.code === "identification_closed") say(id, "error.closed", false);
  else say(id, "error.network", false);
}

function renderSteps() {
  const list = $("steps");
  list.replaceChildren();
  for (const step of page.state.steps) {
    const li = document.createElement("li");
    li.dataset.method = step.method;
    li.dataset.done = String(step.done);
    li.textContent = `${t(`step.${step.method}`)} — ${t(step.done ? "step.done" : "step.todo")}`;
    if (!step.done && step === current()) li.setAttribute("aria-current", "step");
    list.append(li);
  }
}

function current() {
  const open = page.state.steps.filter((s) => !s.done);
  return open.find((s) => s.method === page.chosen) || open[0] || null;
}

// The other open steps, for a person who would rather take one of them (a registration may be completed
// by EDS or by a code with the face check, R-6.4: someone without an EDS key takes the code). After any
// step the page asks the service again what is still needed, so the choice never skips a requirement.
function renderChoices() {
  const step = current();
  const others = page.state.steps.filter((s) => !s.done && s !== step);
  const list = $("other-steps-list");
  list.replaceChildren();
  for (const other of others) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.method = other.method;
    button.textContent = t(`step.${other.method}`);
    button.addEventListener("click", () => choose(other.method));
    list.append(button);
  }
  $("other-steps").hidden = page.busy || !others.length;
}

function choose(method) {
  if (page.busy) return;
  page.chosen = method;
  note("chosen", { method });
  showCurrent();
  const heading = $(`step-${method}`).querySelector("h2");
  heading.tabIndex = -1;
  heading.focus();
}

function busy(on) {
  page.busy = on;
  renderChoices();
}

function showCurrent() {
  renderSteps();
  renderChoices();
  for (const el of document.querySelectorAll("section.step")) el.hidden = true;
  const step = current();
  if (!step) {
    $("done").hidden = false;
    if (page.state.return_url) {
      $("return-link").href = page.state.return_url;
      $("return-link").hidden = false;
    }
    $("status").textContent = t("done.title");
    note("done");
    return;
  }
  $(`step-${step.method}`).hidden = false;
  $("status").textContent = t(`step.${step.method}`);
  note("step", { method: step.method });
  if (step.method === "liveness") showDocument();
  if (step.method === "liveness" && !page.script) prefetchScript();
}

async function passed(method) {
  const step = page.state.steps.find((s) => s.method === method);
  if (step) step.done = true;
  // Ask again what the identification still needs: one step may complete it (EDS alone completes a
  // registration), and then the steps left are not asked for.
  try {
    const resp = await fetch("/hosted/api/state", { credentials: "same-origin" });
    if (resp.ok) page.state = await resp.json();
  } catch {
    // keep the page's own view; the next step's answer will say if it is no longer needed
  }
  showCurrent();
}

// --- the identity document (R-7.3b(i)) ------------------------------------------------------------

// When the profile matches the live face to the identity document and the client has none on file, the
// card's front is taken first: checked at once (a bad picture is said before the camera starts), then sent
// again with the capture, which the service judges against it.
function showDocument() {
  const needed = Boolean(page.state.document_needed) && !page.document;
  $("document-step").hidden = !needed;
  $("face-part").hidden = needed;
}

async function documentChosen(event) {
  const file = event.target.files && event.target.files[0];
  event.target.value = ""; // the same file may be chosen again after a refusal
  if (!file || page.busy) return;
  busy(true);
  say("document-result", "document.checking");
  try {
    await api("document", { file });
    page.document = file;
    note("document", { accepted: true, bytes: file.size, type: file.type });
    say("document-result", "");
    say("liveness-result", "document.accepted", true);
    showDocument();
    $("camera-start").focus();
  } catch (err) {
    documentRefused(err);
  } finally {
    busy(false);
  }
}

function documentRefused(err) {
  note("document", { accepted: false, code: err.code });
  const words = DOCUMENT_WORDS[err.code];
  if (words) say("document-result", `document.${words}`, false);
  else if (err.code === "document_checks_limited") say("document-result", "otp.wait", false, { n: err.retryAfter || 60 });
  else if (err.status === 422 || err.status === 413) say("document-result", "document.other", false);
  else generalError("document-result", err);
}

// --- liveness --------------------------------------------------------------------------------------

// A script is fetched as soon as the step shows (and again after each attempt), so the camera starts
// the moment the person presses Start; one older than a minute is replaced (scripts live two).
async function prefetchScript() {
  try {
    page.script = await api("liveness/script");
    page.scriptAt = Date.now();
    note("script", { challenge_id: page.script.challenge_id });
  } catch (err) {
    page.script = null;
  }
}

async function takeScript() {
  const fresh = page.script && Date.now() - page.scriptAt < 60000;
  const issued = fresh ? page.script : await api("liveness/script");
  page.script = null;
  return issued;
}

function showPrompt(text, count) {
  if ($("prompt").hidden) note("prompt-shown");
  $("prompt").hidden = false;
  if ($("prompt-text").textContent !== text) $("prompt-text").textContent = text;
  $("prompt-count").textContent = count;
}

async function record() {
  busy(true);
  try {
    await faceCheck();
  } finally {
    busy(false);
  }
}

async function faceCheck() {
  note("start");
  $("camera-start").hidden = true;
  $("liveness-retry").hidden = true;
  $("camera-help").hidden = true;
  say("liveness-result", "");
  let issued;
  try {
    issued = await takeScript();
  } catch (err) {
    $("camera-start").hidden = false;
    return generalError("liveness-result", err);
  }
  try {
    page.stream = await openCamera($("video"));
  } catch (err) {
    page.script = issued; // still good for the next press
    page.scriptAt = Date.now();
    const kind = err instanceof CameraError ? err.kind : "failed";
    $("camera-help").textContent = t(`camera.${kind}`);
    $("camera-help").dataset.key = `camera.${kind}`;
    $("camera-help").hidden = false;
    $("camera-start").hidden = false;
    note("camera", { result: kind });
    return;
  }
  note("camera", { result: "open" });
  $("video").scrollIntoView({ block: "center" }); // the person sees themselves under the prompts
  let lastKind;
  const capture = await recordScript({
    video: $("video"),
    script: issued.script,
    flash: $("flash"),
    onCountdown: (n) => showPrompt(t("prompt.get_ready"), String(n)),
    onPrompt: (kind, left) => {
      if (kind !== lastKind) note("prompt", { action: kind });
      lastKind = kind;
      if (left > 0) showPrompt(t(kind ? `prompt.${kind}` : "prompt.hold"), t("prompt.seconds", { n: left }));
    },
  });
  stopCamera(page.stream);
  $("prompt").hidden = true;
  note("captured", { frames: capture.frames.length, timestamps_ms: capture.timestamps_ms, flash_times_ms: capture.flash_times_ms });
  say("liveness-result", "liveness.sending");
  page.tries += 1;
  try {
    const form = captureForm(issued.challenge_id, capture, { flashTimes: true });
    if (page.document) form.append("id_document_image", page.document, page.document.name || "document");
    const bytes = capture.frames.reduce((n, b) => n + b.size, 0);
    const verdict = await api("liveness", { form });
    note("verdict", { passed: verdict.passed, reasons: verdict.reasons, flash_timing: verdict.flash_timing, bytes });
    if (verdict.passed) {
      page.document = null; // kept by the service as the client's document now
      say("liveness-result", "liveness.passed", true);
      return passed("liveness");
    }
    const said = FRAMING.includes(verdict.reasons[0]) ? verdict.reasons.slice(0, 1) : verdict.reasons;
    const fixable = said.filter((r) => FIXABLE.includes(r));
    if (!fixable.length || fixable.length < said.length || page.tries >= MAX_LIVENESS_TRIES) {
      return say("liveness-result", "liveness.final", false);
    }
    // flash_timing and colour_flash say the same thing to the person: said once.
    const advice = [...new Set(fixable.map((r) => t(`reason.${r}`)))];
    $("liveness-result").textContent = [t("liveness.failed"), ...advice].join(" ");
    $("liveness-result").dataset.ok = "false";
    $("liveness-result").dataset.key = fixable.join(",");
  } catch (err) {
    if (err.code === "identity_document_required" || DOCUMENT_WORDS[err.code]) {
      // Refused before the script was spent (no try counted): the document is asked for again.
      page.tries -= 1;
      page.document = null;
      page.state.document_needed = true;
      say("liveness-result", "");
      $("camera-start").hidden = false;
      showDocument();
      if (err.code !== "identity_document_required") documentRefused(err);
      return;
    }
    if (err.status === 422 && page.tries < MAX_LIVENESS_TRIES) say("liveness-result", "reason.other", false);
    else return generalError("liveness-result", err);
  }
  await prefetchScript();
  $("liveness-retry").hidden = false;
  $("liveness-retry").focus();
}

// --- EDS through NCALayer ---------------------------------------------------------------------------

async function sign() {
  busy(true);
  $("eds-sign").disabled = true;
  say("eds-result", "eds.signing");
  const layer = new NcaLayer(page.state.ncalayer_url);
  try {
    await layer.connect();
    const challenge = await api("eds/challenge");
    const cms = await layer.signBase64(challenge.data, { attached: true });
    say("eds-result", "eds.sending");
    const outcome = await api("eds", { json: { cms } });
    note("eds", { outcome: outcome.outcome, reasons: outcome.reasons });
    if (outcome.outcome === "passed") {
      say("eds-result", "eds.passed", true);
      return passed("eds");
    }
    const words = outcome.reasons.map((r) => (r === "iin_mismatch" ? t("eds.iin_mismatch") : t("eds.other")));
    say("eds-result", "eds.rejected", false, { reasons: [...new Set(words)].join("; ") });
  } catch (err) {
    if (err instanceof NcaLayerError) {
      note("ncalayer", { failure: err.kind });
      say("eds-result", `eds.${err.kind}`, false);
    } else {
      generalError("eds-result", err);
    }
  } finally {
    layer.close();
    $("eds-sign").disabled = false;
    busy(false);
  }
}

// --- one-time code ----------------------------------------------------------------------------------

function resendCountdown(until) {
  clearInterval(page.resendTimer);
  const button = $("otp-resend");
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    button.disabled = left > 0;
    button.textContent = left > 0 ? t("otp.resend_in", { n: left }) : t("otp.resend");
    if (left <= 0) clearInterval(page.resendTimer);
  };
  tick();
  page.resendTimer = setInterval(tick, 1000);
}

async function sendCode() {
  say("otp-result", "");
  try {
    const sent = await api("otp");
    $("otp-send").hidden = true;
    $("otp-form").hidden = false;
    $("otp-sent").textContent = t("otp.sent", { phone: sent.phone });
    resendCountdown(Date.parse(sent.resend_after));
    $("otp-code").focus();
  } catch (err) {
    if (err.code === "otp_resend_too_soon") say("otp-result", "otp.wait", false, { n: err.problem.retry_after || 60 });
    else generalError("otp-result", err);
  }
}

async function verifyCode(event) {
  event.preventDefault();
  const code = $("otp-code").value.trim();
  if (!code) return;
  try {
    await api("otp/verify", { json: { code } });
    clearInterval(page.resendTimer);
    say("otp-result", "otp.passed", true);
    passed("otp_sms");
  } catch (err) {
    if (err.code === "otp_rejected" && err.problem.retry_after) say("otp-result", "otp.wait", false, { n: err.problem.retry_after });
    else if (err.code === "otp_rejected") say("otp-result", "otp.rejected", false);
    else generalError("otp-result", err);
    $("otp-code").select();
  }
}

// --- start ------------------------------------------------------------------------------------------

async function main() {
  for (const b of document.querySelectorAll("#languages button")) b.addEventListener("click", () => setLocale(b.dataset.lang));
  $("camera-start").addEventListener("click", record);
  $("liveness-retry").addEventListener("click", record);
  $("document-photo").addEventListener("change", documentChosen);
  $("document-file").addEventListener("change", documentChosen);
  $("eds-sign").addEventListener("click", sign);
  $("otp-send").addEventListener("click", sendCode);
  $("otp-resend").addEventListener("click", sendCode);
  $("otp-form").addEventListener("submit", verifyCode);
  try {
    const resp = await fetch("/hosted/api/state", { credentials: "same-origin" });
    const body = await resp.json();
    if (!resp.ok) throw new ApiError(resp.status, body, resp.headers.get("Retry-After"));
    page.state = body;
  } catch (err) {
    setLocale(page.locale);
    return generalError("status", err);
  }
  setLocale(page.state.locale);
  showCurrent();
  note("ready");
}

main();
