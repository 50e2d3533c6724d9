// The chat beside the player: a websocket on "videos/<id>/chat" (relative to the page).
// Each message carries the moment of the video it was written at; clicking it seeks there.
"use strict";
(() => {
  const player = document.getElementById("player");
  const list = document.getElementById("messages");
  const state = document.getElementById("chat-state");
  const form = document.getElementById("say");
  const input = document.getElementById("text");
  const url = new URL(`videos/${player.dataset.videoId}/chat`, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  let socket = null, failures = 0;

  function note(text, kind = "note") {
    const item = Object.assign(document.createElement("li"), { className: kind, textContent: text });
    list.append(item);
    list.scrollTop = list.scrollHeight;
  }

  function show(message) {
    const item = document.createElement("li");
    if (message.at != null) {
      const at = Object.assign(document.createElement("button"), { className: "at", type: "button",
        textContent: `${Math.floor(message.at / 60)}:${String(Math.floor(message.at % 60)).padStart(2, "0")}` });
      at.addEventListener("click", () => { player.currentTime = message.at; });  // seek: a Range request
      item.append(at);
    }
    item.append(Object.assign(document.createElement("b"), { textContent: message.name }), `: ${message.text}`);
    list.append(item);
    list.scrollTop = list.scrollHeight;
  }

  function connect() {
    socket = new WebSocket(url);
    socket.addEventListener("open", () => { failures = 0; });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "welcome") state.textContent = `as ${message.name}, on worker ${message.worker}`;
      else if (message.type === "message") show(message);
      else if (message.type === "join" || message.type === "leave") note(`${message.name} ${message.type === "join" ? "joined" : "left"}`);
      else if (message.type === "relay") note(message.state === "down"
        ? "The chat relay (Redis) is down: messages cannot be delivered until it is back."
        : "The chat relay is back.", message.state === "down" ? "error" : "note");
      else if (message.type === "error") note(message.error, "error");
    });
    socket.addEventListener("close", (event) => {
      // 1012: the server restarts; 1013: try again later; 1006: the connection dropped.
      if (++failures > 5) {
        state.textContent = "disconnected";
        note("The server is not answering. If you stopped it, start it again (re-run its cell), then reload this page.", "error");
        return;
      }
      state.textContent = `reconnecting (${event.code})…`;
      setTimeout(connect, Math.min(250 * 2 ** failures, 4000));
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (socket?.readyState !== WebSocket.OPEN) return note("not connected: wait a moment", "error");
    socket.send(JSON.stringify({ text: input.value, at: player.currentTime }));
    input.value = "";
  });
  connect();
})();
