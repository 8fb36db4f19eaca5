// Optional live refresh: with "Live" ticked, the page reloads every 3 s while nobody is
// typing into a form. Everything else on the page works without JavaScript.
(function () {
  var box = document.getElementById("live");
  var key = "concord-live";
  var dirty = false;
  document.addEventListener("input", function () { dirty = true; });
  if (box) {
    box.checked = localStorage.getItem(key) === "1";
    box.addEventListener("change", function () {
      localStorage.setItem(key, box.checked ? "1" : "0");
    });
  }
  setInterval(function () {
    var active = document.activeElement;
    var typing = active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName) && active.type !== "checkbox";
    if (box && box.checked && !dirty && !typing && location.pathname === "/") {
      location.reload();
    }
  }, 3000);
  // After an error the page is shown again: bring the form that failed into view.
  var failed = document.querySelector("form.failed");
  if (failed) { failed.scrollIntoView({ block: "center" }); }
})();
