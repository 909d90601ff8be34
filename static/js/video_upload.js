/* Posting a video from the dashboard: the file goes up in resumable chunks over tus
 * (tus-js-client), with a progress bar; a dropped connection retries and resumes where the
 * server says it stopped, and a reload offers to resume the same file. The details travel as
 * the upload's metadata and are checked by the server before the first byte. */
(function () {
  "use strict";

  const form = document.getElementById("video-upload");
  if (!form || !window.tus) return;
  const fileInput = document.getElementById("id_file");
  const picker = document.getElementById("cover-picker");
  const preview = document.getElementById("preview");
  const cover = document.getElementById("id_cover");
  const coverAt = document.getElementById("cover-at");
  const progress = document.getElementById("upload-progress");
  const statusEl = document.getElementById("upload-status");
  const errorEl = document.getElementById("upload-error");
  const button = document.getElementById("upload-button");
  const maxBytes = parseInt(form.dataset.maxBytes, 10);
  const maxProducts = parseInt(form.dataset.maxProducts, 10);
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let previewUrl = null;

  function fail(message) {
    errorEl.textContent = message;
    statusEl.textContent = "";
    button.disabled = false;
  }

  fileInput.addEventListener("change", function () {
    errorEl.textContent = "";
    const file = fileInput.files[0];
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    picker.hidden = true;
    if (!file) return;
    if (file.size > maxBytes) {
      fail("This file is " + Math.round(file.size / 1048576) + " MB; the limit is " +
           Math.round(maxBytes / 1048576) + " MB.");
      return;
    }
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
  });

  preview.addEventListener("loadedmetadata", function () {
    if (!isFinite(preview.duration)) return;
    cover.max = String(Math.max(0, Math.floor(preview.duration * 10) / 10));
    cover.value = "0";
    coverAt.textContent = "0.0";
    picker.hidden = false;
  });

  cover.addEventListener("input", function () {
    coverAt.textContent = parseFloat(cover.value).toFixed(1);
    preview.currentTime = parseFloat(cover.value);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorEl.textContent = "";
    const file = fileInput.files[0];
    if (!file) { fail("Choose a video first."); return; }
    if (file.size > maxBytes) { fail("This file is over the size limit."); return; }
    const products = Array.from(form.querySelectorAll("input[name=products]:checked"))
      .map(function (box) { return box.value; });
    if (products.length > maxProducts) { fail("Tag at most " + maxProducts + " products."); return; }
    const publishAt = form.elements.publish_at.value;
    const metadata = {
      filename: file.name,
      filetype: file.type,
      caption: form.elements.caption.value,
      products: products.join(","),
      cover_ms: String(Math.round(parseFloat(cover.value || "0") * 1000)),
      visibility: form.elements.visibility.value,
      // The browser's local time, sent with its offset.
      publish_at: publishAt ? new Date(publishAt).toISOString() : "",
    };
    let videoId = null;
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    statusEl.textContent = "Starting the upload…";
    const upload = new window.tus.Upload(file, {
      endpoint: form.dataset.endpoint,
      chunkSize: parseInt(form.dataset.chunkBytes, 10),
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
      metadata: metadata,
      headers: { "X-CSRFToken": csrf },
      removeFingerprintOnSuccess: true,
      onProgress: function (sent, total) {
        const percent = total ? Math.floor((sent / total) * 100) : 0;
        progress.value = percent;
        statusEl.textContent = percent + "% uploaded";
      },
      onAfterResponse: function (req, res) {
        const id = res.getHeader("Video-Id");
        if (id) videoId = id;
      },
      onError: function (error) {
        let message = "The upload failed: " + (error.message || error);
        const res = error.originalResponse;
        if (res) {
          try { message = JSON.parse(res.getBody()).detail || message; } catch (e) { /* not JSON */ }
        }
        progress.hidden = true;
        fail(message);
      },
      onSuccess: function () {
        statusEl.textContent = "Uploaded. Processing your video…";
        window.location.assign(form.dataset.done + (videoId ? "#video-" + videoId : ""));
      },
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  });
})();
