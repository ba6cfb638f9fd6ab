// Search from disk: a browser refuses `new Worker(url)` on a page opened from file://, and the theme's
// search runs in a worker. On file:// only, this replaces `Worker` by a same-origin hidden iframe that
// runs the worker's script with the two globals it uses (`postMessage`, the "message" event) bridged to
// the page. The search index itself is inlined by the theme's `offline` plugin (search/search_index.js).
// Named iframe-worker so that the `offline` plugin does not add its own copy from a CDN.
(function () {
  if (location.protocol !== "file:" || typeof window.Worker === "undefined") {
    return;
  }

  class FileWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this.onerror = null;
      this.pending = [];
      this.frame = document.createElement("iframe");
      this.frame.hidden = true;
      (document.body || document.documentElement).appendChild(this.frame);
      const scope = this.frame.contentWindow;
      // the worker's replies come back to the page as "message" events of this object
      scope.postMessage = (data) => this.deliver(data);
      const script = scope.document.createElement("script");
      script.src = new URL(url, location.href).href;
      script.onload = () => {
        const queued = this.pending;
        this.pending = null;
        queued.forEach((data) => this.postMessage(data));
      };
      script.onerror = () => {
        const event = new Event("error");
        if (this.onerror) this.onerror(event);
        this.dispatchEvent(event);
      };
      scope.document.head.appendChild(script);
    }

    deliver(data) {
      const event = new MessageEvent("message", { data: data });
      if (this.onmessage) this.onmessage(event);
      this.dispatchEvent(event);
    }

    postMessage(data) {
      if (this.pending) {
        this.pending.push(data);
        return;
      }
      const scope = this.frame.contentWindow;
      scope.dispatchEvent(new scope.MessageEvent("message", { data: data }));
    }

    terminate() {
      this.frame.remove();
    }
  }

  window.Worker = FileWorker;
})();
