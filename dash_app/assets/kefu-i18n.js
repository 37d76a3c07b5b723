/* Kefu admin: Chinese for the few words Dash's own widgets write (number steppers, date pickers), and
   <html lang> set to the page's language so the browser picks CJK fonts. The page's language comes
   from the shell's data-lang attribute (set by the server). */
(function () {
  var ZH = {
    "Decrease value": "减少", "Increase value": "增加", "Start Date": "开始日期", "End Date": "结束日期",
    "Clear Dates": "清除日期", "Select...": "请选择…", "Search...": "搜索…", "No results found": "没有结果",
    "Clear all": "全部清除", "Clear value": "清除", "Copy": "复制", "Copied": "已复制"
  };
  var pending = false;
  function fix() {
    pending = false;
    var shell = document.querySelector("[data-lang]");
    if (!shell) return;
    var lang = shell.getAttribute("data-lang");
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    if (lang !== "zh") return;
    document.querySelectorAll("[aria-label], [title], [placeholder]").forEach(function (el) {
      ["aria-label", "title", "placeholder"].forEach(function (name) {
        var value = el.getAttribute(name);
        if (value && ZH[value]) el.setAttribute(name, ZH[value]);
      });
    });
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      var text = walker.currentNode.textContent.trim();
      if (ZH[text]) walker.currentNode.textContent = ZH[text];
    }
  }
  new MutationObserver(function () {
    if (!pending) { pending = true; window.requestAnimationFrame(fix); }
  }).observe(document.documentElement, {subtree: true, childList: true});
})();
