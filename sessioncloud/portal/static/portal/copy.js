// Copy buttons beside code texts. Progressive enhancement: without it the buttons stay hidden
// and the text can still be selected and copied by hand.
(function () {
  "use strict";
  if (!navigator.clipboard) { return; }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
      }, function () {
        button.textContent = "Select and copy by hand";
      });
    });
  });
})();
