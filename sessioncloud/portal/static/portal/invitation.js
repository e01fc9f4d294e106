// The invitation link carries its code after "#", which the browser keeps to itself (no server,
// proxy or log sees it). Post the code the way the form would, then drop it from the address.
// Without scripts the form asks for the code, which the e-mail shows as well.
(function () {
  "use strict";
  var code = decodeURIComponent(window.location.hash.slice(1));
  var form = document.getElementById("invitation-open");
  if (!code || !form) { return; }
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  form.elements.token.value = code;
  form.submit();
})();
