/* Checkout payment step: a Stripe.js card element, confirmed against the PaymentIntent that
 * the server created (orders/payments.py). The order becomes paid from Stripe's webhook, so
 * on success this only moves on to the "done" page, which waits for that.
 *
 * On Stripe, confirmCardPayment does everything. localstripe's Stripe.js (development and
 * tests) only plays the 3-D Secure step, so there the card is tokenised in the browser
 * (straight to localstripe, never to us) and the server attaches and confirms it.
 *
 * A declined card leaves the checkout open: the message says so and the form takes another
 * card (the server starts a new payment attempt for it). */
(function () {
  "use strict";
  var form = document.getElementById("payment-form");
  if (!form || typeof Stripe === "undefined") return;
  var button = document.getElementById("pay-button");
  var errors = document.getElementById("card-errors");
  var data = form.dataset;
  var stripe = Stripe(data.publishableKey);
  var DECLINED = "Your card was declined — try another card.";
  var card = stripe.elements().create("card", {
    hidePostalCode: false,
    style: { base: { fontSize: "16px" } },
  });
  card.mount("#card-element");
  button.disabled = false;

  function showError(message) {
    errors.textContent = message || "";
    errors.hidden = !message;
  }

  function csrfToken() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function payOnLocalStripe() {
    var tokenised;
    try {
      tokenised = await stripe.createToken(card);
    } catch (err) {
      return { error: { message: "Enter the card number, expiry and CVC." } };
    }
    if (tokenised.error || !tokenised.token) {
      return { error: { message: (tokenised.error && tokenised.error.message) || "Check the card details." } };
    }
    var response = await fetch(data.localConfirmUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ payment_method: tokenised.token.card.id }),
    });
    var body = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      return { error: { message: body.detail || "The payment could not be made." } };
    }
    if (body.status === "requires_action") {
      // After a decline the attempt may have a PaymentIntent of its own.
      return stripe.confirmCardPayment(body.client_secret || data.clientSecret);
    }
    if (body.status === "succeeded" || body.status === "processing") {
      return { paymentIntent: body };
    }
    return { error: { message: DECLINED } };
  }

  async function payOnStripe() {
    var result = await stripe.confirmCardPayment(data.clientSecret, {
      payment_method: { card: card, billing_details: { name: data.billingName } },
    });
    if (result.error && result.error.type === "card_error" && result.error.code === "card_declined") {
      return { error: { message: DECLINED } };  // the PaymentIntent takes another card: say so
    }
    return result;
  }

  // "Save this card": the server ties the PaymentIntent to the buyer's Stripe Customer before
  // the card is confirmed; the card is kept once the payment succeeds. Sent again when the
  // box is unticked after an earlier attempt asked to save.
  var saveBox = document.getElementById("save-card");
  var askedToSave = false;

  async function tellSaveChoice() {
    if (!saveBox || !data.saveCardUrl || (!saveBox.checked && !askedToSave)) return null;
    var response = await fetch(data.saveCardUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ save: saveBox.checked ? "1" : "0" }),
    });
    if (!response.ok) {
      var body = await response.json().catch(function () { return {}; });
      return { error: { message: body.detail || "The card could not be saved; untick the box to pay without saving it." } };
    }
    askedToSave = saveBox.checked;
    return null;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    showError("");
    var result;
    try {
      result = await tellSaveChoice();
      if (!result) result = await (data.localConfirmUrl ? payOnLocalStripe() : payOnStripe());
    } catch (err) {
      result = { error: { message: "The payment could not be sent; check your connection and try again." } };
    }
    if (result.error) {
      showError(result.error.message || "The payment did not go through.");
      button.disabled = false;
      return;
    }
    window.location.assign(data.doneUrl);
  });
})();
