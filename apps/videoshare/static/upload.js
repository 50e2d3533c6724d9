// Upload with a progress bar: XMLHttpRequest reports upload progress (fetch does not yet).
// The file is the body of PUT api/uploads/<name>; then live.js's events show the processing.
"use strict";
(() => {
  const form = document.getElementById("upload");
  const file = document.getElementById("file");
  const title = document.getElementById("title");
  const sent = document.getElementById("sent");
  const sentText = document.getElementById("sent-text");
  const uploads = document.getElementById("uploads");
  const token = document.querySelector('meta[name="csrf-token"]').content;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    const url = `api/uploads/${encodeURIComponent(chosen.name)}?` + new URLSearchParams(title.value ? { title: title.value } : {});
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.setRequestHeader("Content-Type", chosen.type || "application/octet-stream");
    request.setRequestHeader("X-CSRF-Token", token);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      sent.value = progress.loaded / progress.total;
      sentText.textContent = `${(progress.loaded / 1048576).toFixed(1)} of ${(progress.total / 1048576).toFixed(1)} MiB sent`;
    });
    request.addEventListener("load", () => {
      let answer = {};
      try { answer = JSON.parse(request.responseText); } catch { /* not JSON: said below */ }
      if (request.status !== 201) {
        sentText.textContent = `not uploaded: ${answer.error || request.statusText || request.status}`;
        sentText.className = "error";
        return;
      }
      sent.value = 1;
      sentText.textContent = "uploaded";
      sentText.className = "";
      const item = document.createElement("li");
      item.dataset.videoId = answer.id;
      item.append(Object.assign(document.createElement("span"), { textContent: `${answer.title}: ` }),
                  Object.assign(document.createElement("span"), { className: "status", textContent: answer.status }),
                  Object.assign(document.createElement("progress"), { max: 1, value: 0, hidden: true }));
      uploads.prepend(item);
      window.videoshare?.refresh(answer.id);  // its processing may have begun (or ended) already
      form.reset();
    });
    request.addEventListener("error", () => {
      sentText.textContent = "not uploaded: the connection failed (is the server running?)";
      sentText.className = "error";
    });
    sent.value = 0;
    sentText.className = "";
    sentText.textContent = "starting…";
    request.send(chosen);
  });
})();
