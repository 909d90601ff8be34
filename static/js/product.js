/* Product page: picking a variant updates the price, availability and what "Add to cart" /
 * "Buy now" buy; a thumbnail shows its picture in the main image. Variant data comes from the
 * page's json_script block (#variant-data). Without JS the page still works: the first
 * in-stock variant is the one bought. */
(function () {
  "use strict";

  const dataNode = document.getElementById("variant-data");
  const byId = {};
  if (dataNode) {
    JSON.parse(dataNode.textContent).forEach(function (v) { byId[v.id] = v; });
  }
  const price = document.getElementById("pd-price");
  const compare = document.getElementById("pd-compare");
  const availability = document.getElementById("pd-availability");
  const buyVariant = document.getElementById("buy-variant");

  // The picker is not a form to submit: choosing is enough.
  document.querySelectorAll("form.variant-picker").forEach(function (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); });
  });

  document.querySelectorAll('input[name="variant"]').forEach(function (input) {
    input.addEventListener("change", function () {
      // The picked variant is what gets bought; a sold-out one cannot be.
      if (buyVariant) {
        buyVariant.value = input.value;
        const out = input.closest(".variant-option").classList.contains("sold-out");
        document.querySelectorAll("#buy-form .buy-action").forEach(function (b) { b.disabled = out; });
      }
      const v = byId[input.value];
      if (!v || !price) return;
      price.textContent = v.price;
      compare.textContent = v.compare_at;
      compare.hidden = !v.compare_at;
      availability.textContent = v.availability;
      availability.className = "badge " + v.badge;
    });
  });

  const main = document.getElementById("pd-main-image");
  document.querySelectorAll(".thumbs a[data-full]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (!main) return;
      event.preventDefault();
      main.src = link.dataset.full;
      main.alt = link.dataset.alt;
    });
  });
})();
