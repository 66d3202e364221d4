// Streams a running run's live log into the page: the queue redirects the artifact URL to the worker's
// live-log server, which answers with CORS headers. Text goes in as text (never as HTML). When the stream
// ends the run is over: the page reloads to show the stored log.
(function () {
  "use strict";
  var target = document.getElementById("live-log");
  if (!target || !window.fetch || !window.TextDecoder) { return; }
  var decoder = new TextDecoder();
  function reloadSoon(seconds) { window.setTimeout(function () { window.location.reload(); }, seconds * 1000); }
  fetch(target.getAttribute("data-src"), { credentials: "omit" }).then(function (response) {
    if (!response.ok || !response.body) { reloadSoon(5); return; }
    var reader = response.body.getReader();
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) { reloadSoon(1); return; }
        target.appendChild(document.createTextNode(decoder.decode(chunk.value, { stream: true })));
        target.scrollTop = target.scrollHeight;
        return pump();
      });
    }
    return pump();
  }).catch(function () { reloadSoon(5); });
}());
