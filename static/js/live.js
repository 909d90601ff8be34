/* ShopFeed live page: the player, the room socket (/ws/live/<id>/), chat, the pinned
 * product with "Buy now", the lineup drawer, the flash-deal countdown, gifts (drawer,
 * animations, combos, top gifters, the LIVE goal) and host controls.
 *
 * Protocol (DESIGN.md section 5): every server event is {type, id, ts, data} with a
 * per-session increasing id. The first frame on each socket is "hello" (a snapshot). Every
 * connect resumes from the last event id this page has (the page itself carries the id it was
 * rendered at, with the recent chat): /ws/live/<id>/?last_id=n, and the server replays
 * exactly what followed, or says "resync" and sends a fresh "hello". Reconnects back off
 * exponentially, with jitter. Chat may come as "chat.batch" frames carrying several
 * "chat.message" envelopes (live/chat/batching.py).
 */
(function () {
  "use strict";

  const root = document.getElementById("live-root");
  if (!root) return;
  const readJSON = (id) => JSON.parse(document.getElementById(id).textContent);
  const snapshot = readJSON("live-snapshot");
  const cfg = readJSON("live-client");
  const playerCfg = readJSON("live-player");
  const csrfInput = document.querySelector("#live-csrf input[name=csrfmiddlewaretoken]");
  const $ = (id) => document.getElementById(id);

  const state = {
    status: snapshot.session.status,
    pinned: snapshot.pinned,
    lineup: snapshot.lineup || [],
    deal: snapshot.deal,
    // Where this page's picture is up to; a socket that says more gets asked to replay.
    lastId: snapshot.last_id,
    myMuted: false,
  };

  // --- small helpers ----------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of [].concat(children || [])) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  const exponents = {};
  function exponent(currency) {
    if (!(currency in exponents)) {
      try {
        exponents[currency] = new Intl.NumberFormat("en", { style: "currency", currency })
          .resolvedOptions().maximumFractionDigits;
      } catch (e) {
        exponents[currency] = 2;
      }
    }
    return exponents[currency];
  }

  function money(amount, currency) {
    // Integer minor units in, text out (display only; amounts are never computed here).
    if (amount === null || amount === undefined) return "";
    const exp = exponent(currency);
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency })
        .format(amount / Math.pow(10, exp));
    } catch (e) {
      return `${(amount / Math.pow(10, exp)).toFixed(exp)} ${currency}`;
    }
  }

  function toMinorUnits(text, currency) {
    // "12.5" -> 1250 by string arithmetic, so no float ever becomes a price.
    const exp = exponent(currency);
    const m = String(text).trim().match(/^(\d{1,9})(?:[.,](\d+))?$/);
    if (!m) return null;
    const frac = m[2] || "";
    if (frac.length > exp) return null;
    return parseInt(m[1], 10) * Math.pow(10, exp) + parseInt((frac + "000").slice(0, exp) || "0", 10);
  }

  function flash(id, text, ms) {
    const box = $(id);
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
    clearTimeout(box._timer);
    if (text && ms) box._timer = setTimeout(() => { box.hidden = true; }, ms);
  }
  const showError = (text) => flash("live-error", text, 6000);

  // --- player -----------------------------------------------------------------------------

  const video = $("player");
  let hls = null;
  let retryTimer = null;

  function caption(text) {
    const c = $("player-caption");
    c.textContent = text || "";
    c.hidden = !text;
  }

  function stopPlayer() {
    clearTimeout(retryTimer);
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute("src");
    video.load();
  }

  function playDemo() {
    stopPlayer();
    video.src = playerCfg.demo;
    video.loop = true;
    caption("Demo video: no media server is streaming here.");
    video.play().catch(() => {});
  }

  function noMediaServer() {
    if (playerCfg.demo) playDemo();
    else { caption("Waiting for the stream…"); retryTimer = setTimeout(startPlayer, 5000); }
  }

  function startPlayer() {
    clearTimeout(retryTimer);
    if (state.status !== "live") return;
    caption("");
    video.loop = false;
    if (window.Hls && window.Hls.isSupported()) {
      if (hls) hls.destroy();
      hls = new window.Hls({ liveSyncDurationCount: 3, manifestLoadingMaxRetry: 2 });
      hls.on(window.Hls.Events.ERROR, (event, data) => {
        if (!data.fatal) return;
        const code = data.response ? data.response.code : 0;
        hls.destroy();
        hls = null;
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR && code === 0) {
          noMediaServer(); // nothing answers: no media server (make run)
        } else {
          // The playlist is not written yet (the stream just started) or a hiccup: retry.
          caption("Waiting for the stream…");
          retryTimer = setTimeout(startPlayer, 2000);
        }
      });
      hls.loadSource(playerCfg.hls);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = playerCfg.hls; // Safari plays HLS itself
      video.onerror = () => { video.onerror = null; noMediaServer(); };
      video.play().catch(() => {});
    } else if (playerCfg.demo) {
      playDemo();
    }
  }

  // --- status -----------------------------------------------------------------------------

  function setStatus(status) {
    const was = state.status;
    state.status = status;
    root.dataset.status = status;
    const badge = $("live-status");
    badge.textContent = status === "live" ? "LIVE" : status === "ended" ? "Ended" : "Scheduled";
    badge.className = `badge live-status status-${status}`;
    const msg = $("stage-message");
    if (status === "live") {
      msg.hidden = true;
      if (was !== "live" || (!hls && !video.src)) startPlayer();
    } else if (status === "ended") {
      stopPlayer();
      caption("");
      msg.textContent = "This live has ended.";
      msg.hidden = false;
    }
    renderPinned();
  }

  // --- pinned product and buying ----------------------------------------------------------

  function dealFor(productId) {
    const d = state.deal;
    return d && d.product_id === productId && d.remaining > 0 && new Date(d.ends_at) > new Date()
      ? d : null;
  }

  function renderPinned() {
    const body = $("pinned-body");
    body.replaceChildren();
    const card = state.pinned;
    if (!card) {
      body.append(el("p", { class: "muted", id: "pinned-empty", text: "No product pinned yet." }));
      return;
    }
    const deal = dealFor(card.id);
    const variants = card.variants || [];
    const firstInStock = variants.find((v) => v.quantity > 0);
    const price = (v) => (deal ? deal.deal_price_amount : v.price_amount);

    const priceLine = el("p", { class: "pinned-price" }, [
      el("span", { class: "price", id: "pinned-price",
        text: money(deal ? deal.deal_price_amount : (firstInStock || variants[0] || {}).price_amount
          ?? card.min_price_amount, card.currency) }),
      deal ? el("span", { class: "compare", text: money(card.min_price_amount, card.currency) }) : null,
      deal ? el("span", { class: "badge deal-badge", text: "Deal" }) : null,
    ]);

    const head = el("div", { class: "pinned-head" }, [
      card.thumbnail_url ? el("img", { src: card.thumbnail_url, alt: "", class: "pinned-thumb" }) : null,
      el("div", {}, [
        el("p", { class: "pinned-label", text: "Pinned" }),
        el("a", { href: card.url, class: "pinned-title", text: card.title }),
        priceLine,
      ]),
    ]);
    body.append(head);

    if (state.status === "ended") {
      body.append(el("p", { class: "muted", text: "This live has ended." }));
    } else if (!cfg.me) {
      body.append(el("a", { class: "btn primary buy-now", href: cfg.login_url, text: "Log in to buy" }));
    } else if (cfg.can_buy === false) {
      // The host's own shop: nothing to buy here; the host controls stand in for it.
      body.append(el("p", { class: "muted", id: "pinned-host-note", text: "Viewers buy this from here." }));
    } else if (!firstInStock) {
      body.append(el("p", { class: "badge out", text: "Sold out" }));
    } else {
      const select = el("select", { name: "variant_id", id: "pinned-variant", "aria-label": "Option" },
        variants.map((v) => el("option", {
          value: v.id,
          disabled: v.quantity <= 0,
          selected: v === firstInStock,
          text: `${v.label || "Standard"} — ${money(price(v), card.currency)}${v.quantity <= 0 ? " (sold out)" : ""}`,
        })));
      select.addEventListener("change", () => {
        const v = variants.find((x) => String(x.id) === select.value);
        if (v) $("pinned-price").textContent = money(price(v), card.currency);
      });
      const form = el("form", { method: "post", action: cfg.buy_url, class: "buy-form", id: "buy-form" }, [
        el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrfInput ? csrfInput.value : "" }),
        el("input", { type: "hidden", name: "quantity", value: "1" }),
        deal ? el("input", { type: "hidden", name: "deal_id", value: deal.id }) : null,
        variants.length > 1 ? select : el("input", { type: "hidden", name: "variant_id", value: firstInStock.id }),
        el("button", { type: "submit", class: "btn primary buy-now", text: "Buy now" }),
      ]);
      form.addEventListener("submit", () => {
        form.querySelector("button").disabled = true; // one tap, one checkout
      });
      body.append(form);
    }
    if (cfg.is_host) {
      body.append(el("button", { type: "button", class: "btn", id: "unpin",
        onclick: () => send("unpin", {}), text: "Unpin" }));
    }
  }

  // --- lineup -------------------------------------------------------------------------------

  function renderLineup() {
    const list = $("lineup-list");
    list.replaceChildren();
    $("lineup-count").textContent = state.lineup.length;
    if (!state.lineup.length) {
      list.append(el("li", { class: "muted", text: "Nothing in the lineup." }));
    }
    for (const card of state.lineup) {
      const pinned = state.pinned && state.pinned.id === card.id;
      list.append(el("li", { "data-product-id": card.id, class: pinned ? "is-pinned" : "" }, [
        card.thumbnail_url ? el("img", { src: card.thumbnail_url, alt: "", class: "mini" }) : null,
        el("a", { href: card.url, text: card.title }),
        el("span", { class: "price", text: money(card.min_price_amount, card.currency) }),
        pinned ? el("span", { class: "badge", text: "Pinned" }) : null,
        cfg.is_host && !pinned
          ? el("button", { type: "button", class: "btn pin", "data-product-id": card.id,
              onclick: () => send("pin", { product_id: card.id }), text: "Pin" })
          : null,
      ]));
    }
    const select = $("deal-product-select");
    if (select) {
      const keep = select.value;
      select.replaceChildren(...state.lineup.map((c) => el("option", { value: c.id, text: c.title })));
      if (keep) select.value = keep;
      else if (state.pinned) select.value = state.pinned.id;
    }
  }

  // --- flash deal ----------------------------------------------------------------------------

  let countdownTimer = null;
  function renderDeal() {
    const box = $("deal");
    clearInterval(countdownTimer);
    const d = state.deal;
    if (!d) { box.hidden = true; renderPinned(); return; }
    const card = state.lineup.find((c) => c.id === d.product_id) ||
      (state.pinned && state.pinned.id === d.product_id ? state.pinned : null);
    $("deal-product").textContent = card ? card.title : "";
    $("deal-price").textContent = money(d.deal_price_amount, d.currency);
    $("deal-remaining").textContent = d.remaining > 0 ? `${d.remaining} left` : "Sold out";
    box.hidden = false;
    const tick = () => {
      const ms = new Date(d.ends_at) - new Date();
      if (ms <= 0) {
        $("deal-countdown").textContent = "Ended";
        clearInterval(countdownTimer);
        renderPinned();
        return;
      }
      const s = Math.ceil(ms / 1000);
      $("deal-countdown").textContent =
        `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} left`;
    };
    tick();
    countdownTimer = setInterval(tick, 1000);
    renderPinned();
  }

  // --- chat ---------------------------------------------------------------------------------

  const MAX_CHAT_ROWS = 200;
  function addChat(msg) {
    const list = $("chat-list");
    if (list.querySelector(`[data-message-id="${msg.id}"]`)) return;
    const li = el("li", { "data-message-id": msg.id }, [
      msg.user.level ? el("span", { class: "supporter-level", title: "Supporter level", text: `Lv ${msg.user.level}` }) : null,
      el("b", { text: msg.user.name || msg.user.handle }), " ", el("span", { text: msg.text }),
    ]);
    if (cfg.is_host && msg.user.handle !== cfg.me) {
      li.append(
        el("button", { type: "button", class: "linklike mod", title: "Delete message",
          onclick: () => send("chat.delete", { message_id: msg.id }), text: "Delete" }),
        el("button", { type: "button", class: "linklike mod", title: `Mute @${msg.user.handle} for 10 minutes`,
          onclick: () => send("moderate", { user: msg.user.handle, kind: "mute", minutes: 10 }), text: "Mute" }),
      );
    }
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
    list.append(li);
    while (list.children.length > MAX_CHAT_ROWS) list.firstElementChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  // Shown while the room samples its chat (more messages than a screen can show).
  let busyTimer = null;
  function setChatBusy(busy) {
    const list = $("chat-list");
    if (!list) return;
    let note = $("chat-busy");
    if (!note) {
      note = el("p", { id: "chat-busy", class: "muted small", role: "status", hidden: true,
        text: "Chat is very busy: showing some of the messages." });
      list.after(note);
    }
    if (busy) {
      note.hidden = false;
      clearTimeout(busyTimer);
      busyTimer = setTimeout(() => { note.hidden = true; }, 5000);
    }
  }

  function setChatBlocked(text) {
    const form = $("chat-form");
    if (!form) return;
    for (const c of form.elements) c.disabled = Boolean(text);
    $("chat-input").placeholder = text || "Say something…";
  }

  // --- gifts ---------------------------------------------------------------------------------
  // The board (top gifters, goal) comes whole in every gift event with its version `v`: the
  // newest wins. Gift animations play one at a time over the video (big gifts longer); a
  // combo's running count shows in a bubble until its "gift.end".

  const giftsCfg = cfg.gifts || { gifts: [], balance: null };
  let boardV = -1;
  function applyBoard(board) {
    if (!board || typeof board.v !== "number" || board.v < boardV) return;
    boardV = board.v;
    const list = $("top-gifters");
    list.replaceChildren(...(board.top || []).map((row) =>
      el("li", {}, [el("b", { text: row.user ? row.user.name : "?" }), " ",
        el("span", { class: "muted", text: `${row.coins.toLocaleString()} coins` })])));
    $("top-gifters-empty").hidden = (board.top || []).length > 0;
    const goal = board.goal;
    $("gift-goal").hidden = !goal;
    if (goal) {
      const pct = Math.min(100, Math.floor((goal.progress * 100) / goal.target));
      $("gift-goal-title").textContent = goal.title || "";
      $("gift-goal-count").textContent = `${goal.progress.toLocaleString()} / ${goal.target.toLocaleString()} coins`;
      const bar = $("gift-goal-bar");
      bar.setAttribute("aria-valuemax", goal.target);
      bar.setAttribute("aria-valuenow", Math.min(goal.progress, goal.target));
      $("gift-goal-fill").style.width = `${pct}%`;
      root.dataset.goalProgress = String(goal.progress);
    }
  }

  const animations = [];
  let animating = false;
  function playNext() {
    const next = animations.shift();
    if (!next) { animating = false; return; }
    animating = true;
    const layer = $("gift-layer");
    const big = next.gift.big;
    const node = el("div", { class: `gift-anim${big ? " big" : ""}`, "data-gift": next.gift.name }, [
      next.gift.image ? el("img", { src: next.gift.image, alt: "" }) : null,
      el("p", { text: `${next.sender.name} sent ${next.gift.name}${next.count > 1 ? ` ×${next.count}` : ""}` }),
    ]);
    layer.append(node);
    root.dataset.giftShown = String(Number(root.dataset.giftShown || 0) + 1);
    setTimeout(() => { node.remove(); playNext(); }, big ? 4000 : 1500);
  }
  function animate(d) {
    if (animations.length >= 20) animations.shift(); // a storm: the newest matter
    animations.push(d);
    if (!animating) playNext();
  }

  const combos = new Map(); // streak id -> bubble
  function showGift(d) {
    applyBoard(d);
    if (!d.combo) { animate(d); return; }
    let bubble = combos.get(d.streak);
    if (!bubble) {
      animate(d);
      bubble = el("li", { class: "gift-combo" }, [
        d.gift.image ? el("img", { src: d.gift.image, alt: "" }) : null,
        el("span", { text: `${d.sender.name} · ${d.gift.name}` }), " ",
        el("b", { class: "combo-count" }),
      ]);
      combos.set(d.streak, bubble);
      $("gift-combos").append(bubble);
      while ($("gift-combos").children.length > 4) $("gift-combos").firstElementChild.remove();
    }
    bubble.querySelector(".combo-count").textContent = `×${d.count}`;
  }
  function endStreak(d) {
    applyBoard(d);
    // A streak a storm kept from showing (the room's budget) shows with its end.
    if (!combos.has(d.streak) && d.gift) showGift(Object.assign({}, d, { combo: true }));
    const bubble = combos.get(d.streak);
    if (!bubble) return;
    bubble.querySelector(".combo-count").textContent = `×${d.count}`;
    bubble.classList.add("ended");
    combos.delete(d.streak);
    setTimeout(() => bubble.remove(), 1500);
  }

  function setBalance(coins) {
    if (typeof coins !== "number") return;
    giftsCfg.balance = coins;
    const b = $("gift-balance");
    if (b) b.textContent = coins.toLocaleString();
    for (const btn of document.querySelectorAll(".gift-tile")) {
      btn.classList.toggle("short", Number(btn.dataset.coins) * giftCount() > coins);
    }
  }

  function giftCount() {
    const c = $("gift-count");
    return c ? parseInt(c.value, 10) || 1 : 1;
  }

  function newToken() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
  }

  // Sends not yet acknowledged, by client token: sent again (same token) after a reconnect;
  // the server debits a token once, so a send is never lost and never doubled.
  const unacked = new Map();
  function sendGift(gift) {
    const count = giftCount();
    if (typeof giftsCfg.balance === "number" && gift.coins * count > giftsCfg.balance) {
      showGiftShort(gift.coins * count);
      return;
    }
    const payload = { gift: gift.id, count, client_token: newToken() };
    unacked.set(payload.client_token, payload);
    const ref = send("gift.send", payload);
    if (ref) giftRefs.set(ref, payload.client_token);
  }
  const giftRefs = new Map(); // frame ref -> client token, to settle a refused send
  function resendUnacked() {
    giftRefs.clear();
    for (const payload of unacked.values()) {
      const ref = send("gift.send", payload);
      if (ref) giftRefs.set(ref, payload.client_token);
    }
  }
  function showGiftShort(needed) {
    const url = giftsCfg.top_up_url;
    showError(`That costs ${needed.toLocaleString()} coins and you have ${(giftsCfg.balance || 0).toLocaleString()}.` +
      (url ? " Top up to send it." : ""));
  }

  function renderDrawer() {
    const grid = $("gift-grid");
    if (!grid) return;
    grid.replaceChildren(...giftsCfg.gifts.map((g) => el("li", {}, [
      el("button", { type: "button", class: `gift-tile${g.big ? " big" : ""}`, "data-coins": g.coins,
        "data-gift-id": g.id, title: `${g.name}: ${g.coins} coins (${money(g.price_amount, g.currency)})`,
        onclick: () => sendGift(g) }, [
        g.image ? el("img", { src: g.image, alt: "" }) : null,
        el("span", { class: "gift-name", text: g.name }),
        el("span", { class: "gift-coins", text: `${g.coins.toLocaleString()} coins` }),
        el("span", { class: "gift-money muted", text: money(g.price_amount, g.currency) }),
      ]),
    ])));
    setBalance(giftsCfg.balance);
    const count = $("gift-count");
    if (count) count.addEventListener("change", () => setBalance(giftsCfg.balance));
  }

  // --- events ---------------------------------------------------------------------------------

  function applyHello(data) {
    if (data.session && data.session.status) setStatus(data.session.status);
    state.pinned = data.pinned || null;
    state.lineup = data.lineup || [];
    state.deal = data.deal || null;
    renderLineup();
    renderDeal();
    if (typeof data.viewers === "number") setViewers(data.viewers);
    if (data.gifts) { boardV = -1; applyBoard(data.gifts); } // the server's board is the start
  }

  function setViewers(count) {
    const v = $("viewer-count");
    v.textContent = `${count} watching`;
    v.hidden = false;
  }

  const handlers = {
    hello: applyHello,
    "chat.message": addChat,
    "chat.deleted": (d) => {
      const li = $("chat-list").querySelector(`[data-message-id="${d.message_id}"]`);
      if (li) li.remove();
    },
    viewers: (d) => setViewers(d.count),
    lineup: (d) => { state.lineup = d.items || []; renderLineup(); },
    pin: (d) => { state.pinned = d.product; renderPinned(); renderLineup(); },
    unpin: () => { state.pinned = null; renderPinned(); renderLineup(); },
    "deal.started": (d) => { state.deal = d.deal; renderDeal(); },
    "deal.stock": (d) => {
      if (state.deal && state.deal.id === d.deal_id) { state.deal.remaining = d.remaining; renderDeal(); }
    },
    "deal.ended": (d) => {
      if (state.deal && state.deal.id === d.deal_id) { state.deal = null; renderDeal(); }
    },
    purchase: (d) => {
      const who = (d.buyers || []).slice(0, 3).map((h) => `@${h}`).join(", ");
      const more = d.count > (d.buyers || []).length ? ` and ${d.count - d.buyers.length} more` : "";
      flash("purchase-ticker", `${who}${more} just bought ${(d.product_titles || []).join(", ")}`, 5000);
    },
    notice: (d) => flash("live-notice", d.text, 15000),
    gift: showGift,
    "gift.end": endStreak,
    "gift.goal": applyBoard,
    "gift.ack": (d) => { unacked.delete(d.client_token); giftRefs.delete(d.ref); setBalance(d.balance); },
    "session.started": () => setStatus("live"),
    "session.ended": () => setStatus("ended"),
    moderation: (d) => {
      if (!cfg.me || d.user !== cfg.me) return;
      if (d.kind === "mute") setChatBlocked("The host muted you.");
      else if (d.kind === "ban") { setChatBlocked("The host removed you from this live."); stopReconnecting = true; }
      else setChatBlocked("");
    },
  };

  // --- socket ---------------------------------------------------------------------------------

  let ws = null;
  let attempt = 0;
  let refs = 0;
  let stopReconnecting = false;
  let reconnectTimer = null;

  function connState(text) { $("conn-state").textContent = text; }

  function send(action, payload) {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      showError("Not connected; trying again…");
      return null;
    }
    const ref = `r${++refs}`;
    ws.send(JSON.stringify(Object.assign({ action, ref }, payload)));
    return ref;
  }

  function onFrame(frame) {
    if (frame.type === "error") {
      const d = frame.data || {};
      // A refused gift is settled: it is not sent again on reconnect (the viewer may tap again).
      if (d.ref && giftRefs.has(d.ref)) { unacked.delete(giftRefs.get(d.ref)); giftRefs.delete(d.ref); }
      if (d.code === "insufficient_coins" && $("gift-drawer")) $("gift-drawer").open = true;
      showError(d.detail || "That did not work.");
      return;
    }
    if (frame.type === "hello") {
      applyHello(frame.data);
      const serverLast = frame.data.last_id;
      if (state.lastId === null || state.lastId === undefined || serverLast < state.lastId) {
        state.lastId = serverLast; // a fresh start (or the server's counter began again)
      }
      // Otherwise we connected with ?last_id=: what we missed (chat lives only there) follows.
      return;
    }
    if (frame.type === "resync") {
      state.lastId = null; // the window moved on; the fresh hello that follows is our start
      return;
    }
    if (frame.type === "chat.batch") {
      // Several chat messages in one frame, each with its own id. Ids from data.from to the
      // frame's id that it does not carry were left out on purpose (a busy room shows each
      // viewer a sample), not lost: resume from the frame's id.
      const d = frame.data || {};
      for (const ev of d.events || []) onFrame(ev);
      if (typeof frame.id === "number" && (state.lastId === null || frame.id > state.lastId)) {
        state.lastId = frame.id;
      }
      setChatBusy(d.omitted > 0);
      return;
    }
    if (typeof frame.id === "number") {
      if (state.lastId !== null && frame.id <= state.lastId) return; // seen already
      state.lastId = frame.id;
    }
    const handler = handlers[frame.type];
    if (handler) handler(frame.data || {});
  }

  function connect() {
    clearTimeout(reconnectTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // Resume from the last event this page has: the server replays exactly what followed.
    const resume = state.lastId === null || state.lastId === undefined ? "" : `?last_id=${state.lastId}`;
    ws = new WebSocket(`${scheme}//${location.host}${cfg.ws_path}${resume}`);
    connState(attempt ? "Reconnecting…" : "");
    ws.addEventListener("open", () => {
      attempt = 0; connState(""); root.dataset.connected = "1";
      resendUnacked();
    });
    ws.addEventListener("message", (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(frame);
    });
    ws.addEventListener("close", (ev) => {
      delete root.dataset.connected;
      // 4xxx: the server refused us on purpose (banned, no such session): do not hammer it.
      if (stopReconnecting || (ev.code >= 4000 && ev.code < 4500)) {
        connState("Disconnected.");
        return;
      }
      const delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      connState("Reconnecting…");
      reconnectTimer = setTimeout(connect, delay);
    });
  }

  // --- forms ----------------------------------------------------------------------------------

  const chatForm = $("chat-form");
  if (chatForm) {
    chatForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = $("chat-input");
      const text = input.value.trim();
      if (!text) return;
      if (send("chat.send", { text })) input.value = "";
    });
  }

  const dealForm = $("deal-form");
  if (dealForm) {
    dealForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const productId = parseInt(dealForm.elements.product_id.value, 10);
      const card = state.lineup.find((c) => c.id === productId);
      if (!card) { showError("Choose a product from the lineup."); return; }
      const price = toMinorUnits(dealForm.elements.price.value, card.currency);
      if (!price) { showError(`Type the deal price like 9.99 (${card.currency}).`); return; }
      send("deal.start", {
        product_id: productId,
        price_amount: price,
        quantity: parseInt(dealForm.elements.quantity.value, 10),
        duration_seconds: parseInt(dealForm.elements.duration_seconds.value, 10),
      });
    });
    $("deal-end").addEventListener("click", () => {
      if (state.deal) send("deal.end", { deal_id: state.deal.id });
    });
  }

  const noticeForm = $("notice-form");
  if (noticeForm) {
    noticeForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = noticeForm.elements.text.value.trim();
      if (text && send("notice", { text })) noticeForm.elements.text.value = "";
    });
  }

  const goalForm = $("goal-form");
  if (goalForm) {
    goalForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const coins = parseInt(goalForm.elements.coins.value, 10);
      if (!(coins > 0)) { showError("The goal is a whole number of coins."); return; }
      send("goal.set", { coins, title: goalForm.elements.title.value.trim() });
    });
    $("goal-clear").addEventListener("click", () => send("goal.clear", {}));
  }

  const endButton = $("session-end");
  if (endButton) {
    endButton.addEventListener("click", () => {
      if (window.confirm("End this live for everyone?")) send("session.end", {});
    });
  }

  // --- start ----------------------------------------------------------------------------------

  for (const msg of snapshot.chat || []) addChat(msg);
  renderLineup();
  renderDeal();
  applyBoard(snapshot.gifts);
  renderDrawer();
  if (state.status === "live") startPlayer();
  connect();
  window.shopfeedLive = { state, send }; // for debugging in the console
})();
