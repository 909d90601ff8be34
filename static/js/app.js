/* Site-wide behaviour that templates ask for with data- attributes (the Content-Security-Policy
 * allows no inline handlers):
 *   <form data-confirm="Question?">  asks before submitting.
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
