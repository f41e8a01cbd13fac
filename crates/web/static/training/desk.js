// The desk scanner: a doctor's personal QR code read by the camera (the browser's
// BarcodeDetector where present, else the vendored jsQR decoder, Apache-2.0, see
// /static/vendor/jsQR.LICENSE), by a USB scanner that types the code and Enter into the code
// field, or a 医籍登録番号 typed by hand. Each is posted to the desk endpoint with fetch and its
// result shown large: green (in or out), blue 「記録済み」 (the server found the same attendee
// captured at the desk within the last 60 seconds and changed nothing), amber (kept as pending
// attendance) or red; the live count beside the title is replaced by the one the answer carries,
// so the page never reloads. The same input within 5 seconds is sent once, so a code held in
// front of the camera is not posted four times a second. An empty field asks for a code.
(function () {
  "use strict";
  var desk = document.getElementById("desk");
  if (!desk || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var post = desk.getAttribute("data-post");
  var csrf = desk.getAttribute("data-csrf");
  var result = document.getElementById("desk-result");
  var live = document.getElementById("live-count");
  var CLASSES = ["desk-ok", "desk-same", "desk-warn", "desk-ng"];
  var codeForm = document.getElementById("desk-code-form");
  var codeInput = document.getElementById("desk-code");
  var isekiForm = document.getElementById("desk-iseki-form");
  var isekiInput = document.getElementById("desk-iseki");
  var video = document.getElementById("camera");
  var canvas = document.getElementById("camera-frame");
  var startButton = document.getElementById("camera-start");
  var stopButton = document.getElementById("camera-stop");
  var cameraError = document.getElementById("camera-error");
  var DEBOUNCE_MS = 5000;
  var SCAN_EVERY_MS = 250;
  var MAX_FRAME_WIDTH = 640;
  var last = { key: "", at: 0 };

  function message(name) {
    return desk.getAttribute("data-msg-" + name) || "";
  }

  function show(cls, text) {
    CLASSES.forEach(function (c) {
      result.classList.remove(c);
    });
    if (CLASSES.indexOf(cls) >= 0) {
      result.classList.add(cls);
    }
    result.textContent = text;
  }

  function send(field, raw) {
    var value = (raw || "").trim();
    if (!value) {
      last = { key: "", at: 0 };
      show("desk-ng", message("empty-" + field));
      return;
    }
    var key = field + ":" + value;
    var now = Date.now();
    if (key === last.key && now - last.at < DEBOUNCE_MS) {
      return;
    }
    last = { key: key, at: now };
    var body = new URLSearchParams();
    body.set("csrf", csrf);
    body.set(field, value);
    show("", message("sending"));
    fetch(post, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
      body: body
    }).then(function (r) {
      return r.json().then(function (answer) {
        return { ok: r.ok, answer: answer };
      });
    }).then(function (res) {
      if (res.ok) {
        show(res.answer["class"] || "desk-ok", res.answer.message);
        if (live && res.answer.live) {
          live.textContent = res.answer.live;
        }
      } else {
        show("desk-ng", res.answer.error || message("network"));
      }
    }).catch(function () {
      show("desk-ng", message("network"));
    });
  }

  codeForm.addEventListener("submit", function (e) {
    e.preventDefault();
    send("code", codeInput.value);
    codeInput.value = "";
    codeInput.focus();
  });

  isekiForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var typed = isekiInput.value;
    send("iseki", typed);
    if (typed.trim()) {
      isekiInput.value = "";
      codeInput.focus();
    } else {
      isekiInput.focus();
    }
  });

  // ---- the camera

  var stream = null;
  var detector = null;
  var timer = null;

  function cameraFailed(text) {
    cameraError.textContent = text;
    cameraError.hidden = false;
  }

  function stopCamera() {
    if (timer) {
      window.clearTimeout(timer);
      timer = null;
    }
    if (stream) {
      stream.getTracks().forEach(function (t) {
        t.stop();
      });
      stream = null;
    }
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  function next() {
    if (stream) {
      timer = window.setTimeout(scan, SCAN_EVERY_MS);
    }
  }

  function scanWithJsQR() {
    var w = video.videoWidth;
    var h = video.videoHeight;
    if (!w || !h || !window.jsQR) {
      return;
    }
    var scale = Math.min(1, MAX_FRAME_WIDTH / w);
    var cw = Math.round(w * scale);
    var ch = Math.round(h * scale);
    canvas.width = cw;
    canvas.height = ch;
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, cw, ch);
    var frame = ctx.getImageData(0, 0, cw, ch);
    var found = window.jsQR(frame.data, cw, ch, { inversionAttempts: "dontInvert" });
    if (found && found.data) {
      send("code", found.data);
    }
  }

  function scan() {
    if (!stream) {
      return;
    }
    if (video.readyState < 2) {
      next();
      return;
    }
    if (detector) {
      detector.detect(video).then(function (codes) {
        if (codes.length > 0) {
          send("code", codes[0].rawValue);
        }
      }).catch(function () {
        // a frame the detector could not read; the next one may do
      }).then(next);
      return;
    }
    scanWithJsQR();
    next();
  }

  startButton.addEventListener("click", function () {
    cameraError.hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraFailed(message("camera-unsupported"));
      return;
    }
    if (!("BarcodeDetector" in window) && !window.jsQR) {
      cameraFailed(message("camera-unsupported"));
      return;
    }
    navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: false
    }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      startButton.hidden = true;
      stopButton.hidden = false;
      return video.play();
    }).then(function () {
      detector = null;
      if ("BarcodeDetector" in window) {
        try {
          detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        } catch (e) {
          detector = null;
        }
      }
      scan();
    }).catch(function () {
      stopCamera();
      cameraFailed(message("camera-denied"));
    });
  });

  stopButton.addEventListener("click", stopCamera);
})();
