// Live notifications for a signed-in page: one EventSource on "events" (relative URL).
// A video's news updates every element carrying its data-video-id, and a new ready video
// joins the home page's grid. The latest news of each video is kept: an element added
// later (upload.js) calls videoshare.refresh(id), as the news may have come first.
"use strict";
(() => {
  const offline = document.getElementById("offline");
  const say = (text) => { offline.textContent = text; offline.hidden = !text; };
  let failures = 0;
  const latest = new Map();  // video id -> its newest state
  window.videoshare = { refresh: (id) => latest.has(id) && show(latest.get(id)) };
  const source = new EventSource("events");

  source.addEventListener("open", () => { failures = 0; say(""); });
  source.addEventListener("error", () => {
    // EventSource retries by itself; a server that stays away is said so, once, instead.
    if (source.readyState === EventSource.CLOSED || ++failures >= 5) {
      source.close();
      say("The server is not answering. If you stopped it, start it again (re-run its cell), then reload this page.");
    }
  });
  source.addEventListener("hello", (event) => {
    for (const video of JSON.parse(event.data).videos) show(video, false);
  });
  source.addEventListener("video", (event) => show(JSON.parse(event.data)));
  source.addEventListener("relay", (event) => {
    const down = JSON.parse(event.data).state === "down";
    say(down ? "Live updates are paused: the message relay (Redis) is down. They resume when it is back." : "");
  });

  // A video only moves forward (queued, processing, then ready or failed): older news that
  // arrives after newer (a snapshot and an event crossing) is dropped.
  const rank = (video) => ({ queued: 0, processing: 1 + (video.progress || 0) / 2, ready: 2, failed: 2 })[video.status];
  function show(video, isNews = true) {
    const known = latest.get(video.id);
    if (known && rank(video) < rank(known)) return;
    latest.set(video.id, video);
    for (const item of document.querySelectorAll(`[data-video-id="${video.id}"]`)) {
      const status = item.querySelector(".status");
      if (!status) continue;
      const progress = item.querySelector("progress");
      status.textContent = video.status + (video.status === "processing" && video.progress != null
        ? ` ${Math.round(video.progress * 100)}%` : "");
      status.className = `status ${video.status}`;
      if (progress) {
        progress.hidden = video.status !== "processing";
        progress.value = video.progress || 0;
      }
      if (video.status === "ready" && !item.querySelector("a.watch")) {
        item.insertAdjacentHTML("beforeend", ` <a class="watch" href="watch?v=${video.id}">watch it</a>`);
      }
      if (video.status === "failed" && video.error) status.title = video.error;
    }
    const grid = document.getElementById("videos");
    if (grid && isNews && video.status === "ready" && !grid.querySelector(`[data-video-id="${video.id}"]`)) {
      grid.querySelector(".empty")?.remove();
      const card = document.createElement("li");
      card.dataset.videoId = video.id;
      const link = Object.assign(document.createElement("a"), { href: `watch?v=${video.id}` });
      const image = Object.assign(document.createElement("img"), { src: `videos/${video.id}/thumbnail`, alt: "" });
      const title = document.createElement("b");
      title.textContent = video.title;  // text, never HTML: a title is the uploader's words
      link.append(image, title);
      card.append(link);
      grid.prepend(card);
    }
  }
})();
