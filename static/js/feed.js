// The vertical video feed (templates/feed/feed.html): pages from /api/v1/feed/, one slide per
// video, snap scrolling, autoplay muted (tap for sound), HLS through hls.js (vendored, CSP
// allows no CDN), the next video preloaded, watch events batched and sent with sendBeacon.
// Everything the server says is put in the page as text (textContent), never as HTML.
(function () {
  "use strict";

  var root = document.getElementById("feed-root");
  if (!root) return;
  var api = root.dataset.api;
  var signedIn = root.dataset.signedIn === "1";
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var feed = document.getElementById("feed");
  var sheet = document.getElementById("sheet");
  var sheetTitle = document.getElementById("sheet-title");
  var sheetContent = document.getElementById("sheet-content");
  var toast = document.getElementById("toast");
  var nextUrl = null;
  var loading = false;
  var soundOn = false;
  var shown = new Set();
  var slides = [];
  var WATCH_URL = api + "watch-events/";
  var BATCH = 50;
  var FLUSH_MS = 15000;

  // --- small helpers ---------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function uuid4() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function money(amount, currency) {
    try {
      var f = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
      var digits = f.resolvedOptions().maximumFractionDigits;
      return f.format(amount / Math.pow(10, digits));
    } catch (e) {
      return (amount / 100).toFixed(2) + " " + currency;
    }
  }

  function count(n) {
    if (n >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1).replace(/\.0$/, "") + "K";
    return String(n);
  }

  function say(text) {
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(say.timer);
    say.timer = setTimeout(function () { toast.hidden = true; }, 2500);
  }

  function toLogin(videoId) {
    var next = videoId ? "/v/" + videoId + "/" : location.pathname;
    location.href = root.dataset.loginUrl + "?next=" + encodeURIComponent(next);
  }

  function call(method, url, body) {
    var init = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf },
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var err = new Error(data.detail || (data.text && data.text[0]) || "Something went wrong.");
          err.status = r.status;
          throw err;
        }
        return data;
      });
    });
  }

  // --- the sheet (product, comments, share, why) -------------------------------------------

  function openSheet(title, content) {
    sheetTitle.textContent = title;
    sheetContent.replaceChildren(content);
    sheet.hidden = false;
    var focusable = sheet.querySelector("select, input, textarea, button:not(.sheet-close), a");
    (focusable || sheet.querySelector(".sheet-close")).focus();
  }

  function closeSheet() { sheet.hidden = true; }
  sheet.querySelector(".sheet-close").addEventListener("click", closeSheet);
  sheet.addEventListener("click", function (e) { if (e.target === sheet) closeSheet(); });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !sheet.hidden) closeSheet();
  });

  function productSheet(video, product) {
    var form = el("form", { method: "post", action: root.dataset.buyUrl, className: "buy-form" });
    form.appendChild(el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrf }));
    form.appendChild(el("input", { type: "hidden", name: "source", value: "video" }));
    form.appendChild(el("input", { type: "hidden", name: "source_ref", value: String(video.id) }));
    form.appendChild(el("input", { type: "hidden", name: "quantity", value: "1" }));
    var buyable = product.variants.filter(function (v) { return v.in_stock; });
    if (product.thumbnail_url) {
      form.appendChild(el("img", { src: product.thumbnail_url, alt: "", className: "sheet-image" }));
    }
    form.appendChild(el("p", { className: "sheet-price", text: product.min_price_amount !== null ? money(product.min_price_amount, product.currency) : "" }));
    if (buyable.length > 1) {
      var select = el("select", { name: "variant_id", id: "sheet-variant", "aria-label": "Option" });
      buyable.forEach(function (v) {
        select.appendChild(el("option", { value: String(v.id), text: (v.label || product.title) + " · " + money(v.price_amount, v.currency) }));
      });
      form.appendChild(el("label", { for: "sheet-variant", text: "Option" }));
      form.appendChild(select);
    } else if (buyable.length === 1) {
      form.appendChild(el("input", { type: "hidden", name: "variant_id", value: String(buyable[0].id) }));
    }
    if (buyable.length) {
      form.appendChild(el("button", { type: "submit", className: "buy-now", text: "Buy now" }));
    } else {
      form.appendChild(el("p", { className: "sold-out", text: "Sold out" }));
    }
    form.appendChild(el("a", { href: product.url, className: "sheet-link", text: "Product details" }));
    openSheet(product.title, form);
  }

  function commentsSheet(video, slide) {
    var list = el("ol", { className: "comments" });
    var error = el("p", { className: "form-error", role: "alert", hidden: "" });
    var box = el("div", {}, [list]);
    function show(comment, atTop) {
      var item = el("li", {}, [el("b", { text: "@" + comment.author + " " }), el("span", { text: comment.text })]);
      if (atTop) list.prepend(item); else list.appendChild(item);
    }
    call("GET", api + "videos/" + video.id + "/comments/").then(function (data) {
      data.results.forEach(function (c) { show(c, false); });
      if (!data.results.length) list.appendChild(el("li", { className: "muted", text: "No comments yet." }));
    });
    if (signedIn) {
      var text = el("textarea", { name: "text", maxlength: "300", rows: "2", "aria-label": "Add a comment", placeholder: "Add a comment" });
      var form = el("form", { className: "comment-form" }, [text, el("button", { type: "submit", text: "Post" })]);
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        error.hidden = true;
        call("POST", api + "videos/" + video.id + "/comments/", { text: text.value }).then(function (c) {
          var empty = list.querySelector(".muted");
          if (empty) empty.remove();
          show(c, true);
          text.value = "";
          video.comment_count += 1;
          slide.querySelector(".comment-btn .n").textContent = count(video.comment_count);
        }).catch(function (err) {
          error.textContent = err.message;
          error.hidden = false;
        });
      });
      box.appendChild(form);
    } else {
      box.appendChild(el("a", { href: root.dataset.loginUrl + "?next=/v/" + video.id + "/", text: "Log in to comment" }));
    }
    box.appendChild(error);
    openSheet("Comments", box);
  }

  function whySheet(video) {
    var box = el("div", { className: "why" });
    function render(reasons, personalised) {
      var list = el("ul");
      reasons.forEach(function (r) { list.appendChild(el("li", { "data-code": r.code, text: r.text })); });
      if (!reasons.length) list.appendChild(el("li", { text: "You opened this video yourself (a link, a search or Following)." }));
      box.replaceChildren(list);
      if (!personalised) box.appendChild(el("p", { className: "muted", text: "Personalisation is off: everyone in your region sees this list." }));
      box.appendChild(el("a", { href: "/feed/how-it-works/", text: "How For You works" }));
      if (signedIn) box.appendChild(el("a", { href: "/feed/settings/", text: " · Feed settings" }));
    }
    if (video.reasons && video.reasons.length) render(video.reasons, root.dataset.personalised !== "0");
    else call("GET", api + "videos/" + video.id + "/why/").then(function (d) { render(d.reasons, d.personalised); });
    openSheet("Why am I seeing this?", box);
  }

  function shareSheet(video, slide) {
    var url = video.share_url;
    var input = el("input", { type: "url", readonly: "", value: url, "aria-label": "Link to this video" });
    openSheet("Share", el("div", {}, [input]));
    input.select();
    var copied = navigator.clipboard ? navigator.clipboard.writeText(url) : Promise.reject();
    copied.then(function () { say("Link copied"); }, function () { say("Copy the link above"); });
    call("POST", api + "videos/" + video.id + "/share/").then(function (c) {
      slide.querySelector(".share-btn .n").textContent = count(c.share_count);
    }).catch(function () {});
  }

  // --- slides ----------------------------------------------------------------------------------

  // A count button reads "12 likes" (visible "12", the noun for screen readers); the others
  // show their label.
  function actionButton(className, label, n, noun) {
    var children = [el("span", { className: "icon", "aria-hidden": "true" })];
    if (n === undefined) {
      children.push(el("span", { className: "n", text: label }));
    } else {
      children.push(el("span", { className: "n", text: count(n) }));
      children.push(el("span", { className: "sr-only", text: " " + noun }));
    }
    return el("button", { type: "button", className: "act " + className }, children);
  }

  function buildSlide(video) {
    var slide = el("section", { className: "slide", "data-video-id": String(video.id), "aria-label": "Video by @" + video.creator.handle });
    var media = el("video", { className: "clip", playsinline: "", muted: "", loop: "", preload: "none" });
    media.muted = true;
    if (video.poster_url) media.setAttribute("poster", video.poster_url);
    var sound = el("button", { type: "button", className: "sound", "aria-label": "Tap for sound", text: "Tap for sound" });
    var creator = el("a", { className: "creator", href: "/@" + video.creator.handle + "/", text: "@" + video.creator.handle });
    var meta = el("div", { className: "meta" }, [creator]);
    if (root.dataset.handle !== video.creator.handle) {
      var follow = el("button", { type: "button", className: "follow", "aria-pressed": String(video.following_creator), text: video.following_creator ? "Following" : "Follow" });
      follow.addEventListener("click", function () {
        if (!signedIn) return toLogin(video.id);
        var on = follow.getAttribute("aria-pressed") !== "true";
        call(on ? "POST" : "DELETE", api + "creators/" + encodeURIComponent(video.creator.handle) + "/follow/").then(function (d) {
          document.querySelectorAll(".slide .follow[data-handle='" + video.creator.handle + "']").forEach(function (b) {
            b.setAttribute("aria-pressed", String(d.following));
            b.textContent = d.following ? "Following" : "Follow";
          });
        }).catch(function (err) { say(err.message); });
      });
      follow.dataset.handle = video.creator.handle;
      meta.appendChild(follow);
    }
    meta.appendChild(el("p", { className: "caption", text: video.caption }));
    if (video.products.length) {
      var row = el("div", { className: "products" });
      video.products.forEach(function (p) {
        var card = el("button", { type: "button", className: "product-card" }, [
          p.thumbnail_url ? el("img", { src: p.thumbnail_url, alt: "" }) : null,
          el("span", { className: "title", text: p.title }),
          el("span", { className: "price", text: p.min_price_amount !== null ? money(p.min_price_amount, p.currency) : "" }),
        ]);
        card.addEventListener("click", function () { productSheet(video, p); });
        row.appendChild(card);
      });
      meta.appendChild(row);
    }
    var like = actionButton("like-btn", "Like", video.like_count, "likes");
    like.setAttribute("aria-pressed", String(video.liked));
    like.addEventListener("click", function () {
      if (!signedIn) return toLogin(video.id);
      var on = like.getAttribute("aria-pressed") !== "true";
      call(on ? "POST" : "DELETE", api + "videos/" + video.id + "/like/").then(function (c) {
        like.setAttribute("aria-pressed", String(c.liked));
        like.querySelector(".n").textContent = count(c.like_count);
      }).catch(function (err) { say(err.message); });
    });
    var comments = actionButton("comment-btn", "Comments", video.comment_count, "comments");
    comments.addEventListener("click", function () { commentsSheet(video, slide); });
    var share = actionButton("share-btn", "Share", video.share_count, "shares");
    share.addEventListener("click", function () { shareSheet(video, slide); });
    var why = actionButton("why-btn", "Why?");
    why.setAttribute("title", "Why am I seeing this?");
    why.addEventListener("click", function () { whySheet(video); });
    var actions = el("div", { className: "actions" }, [like, comments, share, why]);
    if (signedIn) {
      var nope = actionButton("nope-btn", "Not interested");
      nope.addEventListener("click", function () {
        call("POST", api + "videos/" + video.id + "/not-interested/").then(function () {
          say("Got it: you will see fewer videos like this.");
          var next = slide.nextElementSibling;
          if (next) next.scrollIntoView({ behavior: "smooth" });
          setTimeout(function () { removeSlide(slide); }, 600);
        }).catch(function (err) { say(err.message); });
      });
      actions.appendChild(nope);
    }
    slide.append(media, sound, meta, actions);
    media.addEventListener("click", function () { toggleSound(media); });
    sound.addEventListener("click", function () { toggleSound(media); });
    slide._video = video;
    slide._media = media;
    return slide;
  }

  function removeSlide(slide) {
    observer.unobserve(slide);
    if (slide._hls) slide._hls.destroy();
    slides = slides.filter(function (s) { return s !== slide; });
    slide.remove();
  }

  function toggleSound(media) {
    // A tap starts a video autoplay was refused for; otherwise it turns sound on or off.
    if (media.paused) {
      media.play().catch(function () {});
      return;
    }
    soundOn = !soundOn;
    slides.forEach(function (s) { s._media.muted = !soundOn; });
    root.classList.toggle("sound-on", soundOn);
    document.querySelectorAll(".slide .sound").forEach(function (b) {
      b.textContent = soundOn ? "Sound on" : "Tap for sound";
    });
  }

  function attach(slide, preload) {
    var media = slide._media;
    var video = slide._video;
    media.preload = preload;
    if (slide._attached) return;
    slide._attached = true;
    if (video.hls_url && window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls({ maxBufferLength: 10, capLevelToPlayerSize: true });
      hls.loadSource(video.hls_url);
      hls.attachMedia(media);
      slide._hls = hls;
    } else if (video.hls_url && media.canPlayType("application/vnd.apple.mpegurl")) {
      media.src = video.hls_url;
    } else if (video.mp4_url) {
      media.src = video.mp4_url;
    }
  }

  function addVideo(video) {
    if (shown.has(video.id)) return;
    shown.add(video.id);
    var slide = buildSlide(video);
    slides.push(slide);
    feed.appendChild(slide);
    observer.observe(slide);
  }

  // --- what is on screen --------------------------------------------------------------------

  var active = null;
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting && entry.intersectionRatio >= 0.6) activate(entry.target);
    });
  }, { threshold: [0.6] });

  function activate(slide) {
    if (active === slide) return;
    if (active) {
      active._media.pause();
      endView();
    }
    active = slide;
    slides.forEach(function (s) { s.classList.toggle("active", s === slide); });
    attach(slide, "auto");
    slide._media.muted = !soundOn;
    slide._media.play().catch(function () { /* autoplay refused: a tap starts it */ });
    var i = slides.indexOf(slide);
    if (slides[i + 1]) attach(slides[i + 1], "auto"); // the next one is ready when swiped to
    startView(slide);
    if (i >= slides.length - 3) load();
  }

  // --- watch events ------------------------------------------------------------------------

  var view = null;
  var pending = {};

  function startView(slide) {
    var media = slide._media;
    view = { slide: slide, token: uuid4(), videoId: slide._video.id, watchMs: 0, lastT: null, completed: false, replays: 0 };
    var thisView = view;
    setTimeout(function () { if (view === thisView) queue(thisView); }, 1000); // on screen 1 s: a view
    if (!media._tracked) {
      media._tracked = true;
      media.addEventListener("timeupdate", function () { track(slide); });
    }
  }

  function track(slide) {
    if (!view || view.slide !== slide) return;
    var media = slide._media;
    var t = media.currentTime;
    if (view.lastT !== null) {
      if (t >= view.lastT && t - view.lastT < 2) view.watchMs += (t - view.lastT) * 1000;
      else if (t < view.lastT - 0.5 && view.lastT > media.duration * 0.8) {
        view.replays += 1; // looped back to the start
        view.completed = true;
      }
    }
    view.lastT = t;
    if (media.duration && t >= media.duration * 0.9) view.completed = true;
  }

  function queue(v) {
    pending[v.token] = {
      view_id: v.token,
      video: v.videoId,
      watch_ms: Math.round(v.watchMs),
      completed: v.completed,
      replays: v.replays,
    };
  }

  function endView() {
    if (view) queue(view);
    view = null;
  }

  function flush() {
    if (view) queue(view);
    var events = Object.keys(pending).map(function (k) { return pending[k]; });
    pending = {};
    for (var i = 0; i < events.length; i += BATCH) {
      var body = new URLSearchParams();
      body.set("csrfmiddlewaretoken", csrf);
      body.set("events", JSON.stringify(events.slice(i, i + BATCH)));
      if (!(navigator.sendBeacon && navigator.sendBeacon(WATCH_URL, body))) {
        fetch(WATCH_URL, { method: "POST", body: body, credentials: "same-origin", keepalive: true }).catch(function () {});
      }
    }
  }
  setInterval(flush, FLUSH_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
  window.addEventListener("pagehide", flush);

  // --- pages ---------------------------------------------------------------------------------

  function firstUrl() {
    var tab = root.dataset.tab;
    if (tab === "following") return api + "following/";
    if (tab === "search") return root.dataset.query ? api + "search/?q=" + encodeURIComponent(root.dataset.query) : null;
    return api + "for-you/";
  }

  function load() {
    if (loading || !nextUrl) return Promise.resolve();
    loading = true;
    var url = nextUrl;
    return call("GET", url).then(function (data) {
      data.results.forEach(addVideo);
      nextUrl = data.results.length ? data.next : null;
      if (data.personalised === false) root.dataset.personalised = "0";
    }).catch(function (err) {
      nextUrl = null;
      say(err.message);
    }).then(function () {
      loading = false;
      document.getElementById("feed-empty").hidden = slides.length > 0;
    });
  }

  document.addEventListener("keydown", function (e) {
    if (!sheet.hidden || !active || /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) return;
    var i = slides.indexOf(active);
    if (e.key === "ArrowDown" && slides[i + 1]) { e.preventDefault(); slides[i + 1].scrollIntoView({ behavior: "smooth" }); }
    if (e.key === "ArrowUp" && slides[i - 1]) { e.preventDefault(); slides[i - 1].scrollIntoView({ behavior: "smooth" }); }
  });

  // The feed fills the screen under the top bar (whose height depends on the screen's width).
  function fit() {
    var bar = document.querySelector(".topbar");
    root.style.setProperty("--top", (bar ? bar.offsetHeight : 0) + "px");
  }
  fit();
  window.addEventListener("resize", fit);

  nextUrl = firstUrl();
  var start = root.dataset.startVideo;
  var first = start
    ? call("GET", api + "videos/" + start + "/").then(addVideo).catch(function () {})
    : Promise.resolve();
  first.then(load);
})();
