/* Dashboard product form: "Add variant" clones the empty variant row (#variant-template).
 * Optional nicety: without JS the page still has one spare row. */
(function () {
  "use strict";

  const button = document.getElementById("add-variant");
  const rows = document.getElementById("variant-rows");
  const template = document.getElementById("variant-template");
  const total = document.getElementById("id_variants-TOTAL_FORMS");
  if (!button || !rows || !template || !total) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    const index = parseInt(total.value, 10);
    const html = template.innerHTML.replace(/__prefix__/g, String(index));
    rows.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
  });
})();
