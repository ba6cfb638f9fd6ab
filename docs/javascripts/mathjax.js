// Math on the Markdown pages, offline: MathJax 2.7 served from the site itself (assets/mathjax/, copied
// at build time by docs/hooks.py from the jupyter-server-mathjax package). pymdownx.arithmatex (generic
// mode) writes \( ... \) and \[ ... \] inside .arithmatex elements. The notebook pages load the same
// MathJax earlier with their own configuration ($ ... $ too): then this script does nothing.
(function () {
  if (window.MathJax) {
    return;
  }
  var here = document.currentScript.src;
  window.MathJax = {
    tex2jax: {
      inlineMath: [["\\(", "\\)"]],
      displayMath: [["\\[", "\\]"]],
      processEscapes: true,
      processClass: "arithmatex",
      ignoreClass: ".*|",
    },
  };
  var script = document.createElement("script");
  script.src = new URL("../assets/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe,local/stablecore", here).href;
  document.head.appendChild(script);
})();
