// The overview's deadline countdown (the page reads the same without it).
(function () {
  var time = document.getElementById("deadline"), out = document.getElementById("countdown");
  if (!time || !out) return;
  var end = new Date(time.getAttribute("datetime"));
  function tick() {
    var left = Math.floor((end - new Date()) / 1000);
    if (left <= 0) { out.textContent = "(closed)"; return; }
    var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60);
    out.textContent = "(" + (d ? d + " d " : "") + h + " h " + m + " min left)";
    setTimeout(tick, 30000);
  }
  tick();
})();
