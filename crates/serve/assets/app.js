// Live retail analytics dashboard: one Server-Sent Events stream, charts created once and
// updated in place. No framework, no build step; uPlot is loaded before this file.
'use strict';

(function () {
  // ---------------------------------------------------------------- dictionary
  const DICT = {
    title: { ru: 'Розничная аналитика в реальном времени', en: 'Live retail analytics' },
    range: { ru: 'Период', en: 'Range' },
    range_15m: { ru: '15 мин', en: '15 min' },
    range_1h: { ru: '1 ч', en: '1 h' },
    range_24h: { ru: '24 ч', en: '24 h' },
    range_7d: { ru: '7 дн', en: '7 d' },
    updated_at: { ru: 'обновлено', en: 'updated at' },
    lang_switch: { ru: 'Switch to English', en: 'Переключить на русский' },
    conn_connecting: { ru: 'подключение', en: 'connecting' },
    conn_live: { ru: 'онлайн', en: 'live' },
    conn_stale: { ru: 'нет обновлений', en: 'no updates' },
    conn_reconnecting: { ru: 'переподключение', en: 'reconnecting' },
    banner_ch: {
      ru: 'ClickHouse недоступен с {since}: {err}. Показаны последние полученные данные (устаревшие), повторная попытка…',
      en: 'ClickHouse has been unreachable since {since}: {err}. Showing the last values received (stale); retrying…',
    },
    banner_ch_error: {
      ru: 'ClickHouse отвечает ошибкой: {err}. Показаны последние полученные данные (устаревшие), повторная попытка…',
      en: 'ClickHouse answers with an error: {err}. Showing the last values received (stale); retrying…',
    },
    banner_ch_nodata: {
      ru: 'ClickHouse недоступен с {since}: {err}. Повторная попытка…',
      en: 'ClickHouse has been unreachable since {since}: {err}. Retrying…',
    },
    banner_guard: {
      ru: 'Проверка «{name}» не проходит с {since}: {err}. Повторная попытка каждую секунду…',
      en: 'The {name} guard has been failing since {since}: {err}. Retrying every second…',
    },
    guard_ok: { ru: '{name} · ок', en: '{name} · OK' },
    guard_failing: { ru: '{name} · сбой с {since}', en: '{name} · failing since {since}' },
    banner_broker: {
      ru: 'Брокер Kafka недоступен с {since}: {err}. Новые события не поступают, повторная попытка…',
      en: 'The Kafka broker has been unreachable since {since}: {err}. No new events are arriving; retrying…',
    },
    banner_stream: {
      ru: 'Соединение с сервером потеряно — переподключение…',
      en: 'Connection to the server lost — reconnecting…',
    },
    banner_waiting: {
      ru: 'Ожидание данных: таблицы готовы, но событий ещё нет. Страница обновится сама.',
      en: 'Waiting for data: the tables are ready but no events have arrived yet. The page updates by itself.',
    },
    unknown_error: { ru: 'нет ответа', en: 'no answer' },
    status_connecting: { ru: 'Подключение к потоку данных…', en: 'Connecting to the data stream…' },
    status_ready: { ru: 'Данные поступают · продаж: {s} · движений склада: {m}', en: 'Receiving data · sales: {s} · stock movements: {m}' },
    status_waiting: { ru: 'Ожидание данных', en: 'Waiting for data' },
    status_error: { ru: 'Ошибка: таблицы ClickHouse не найдены', en: 'Error: ClickHouse tables not found' },
    status_ch_error: { ru: 'Запрос к ClickHouse не удался — повторная попытка', en: 'A ClickHouse query failed — retrying' },
    status_ch_down: { ru: 'ClickHouse недоступен — повторная попытка', en: 'ClickHouse unreachable — retrying' },
    kpi_revenue: { ru: 'Выручка', en: 'Revenue' },
    kpi_orders: { ru: 'Заказы', en: 'Orders' },
    kpi_items: { ru: 'Продано товаров', en: 'Items sold' },
    kpi_avg_ticket: { ru: 'Средний чек', en: 'Average ticket' },
    kpi_unique_customers: { ru: 'Уникальные покупатели', en: 'Unique customers' },
    kpi_unique_customers_hint: { ru: 'Оценка: точно до 512, дальше с погрешностью около 1 %', en: 'An estimate: exact up to 512, then within about 1 %' },
    vs_prev: { ru: 'к пред. периоду', en: 'vs previous period' },
    prev_was: { ru: 'Предыдущий период: {v}', en: 'Previous period: {v}' },
    series_min: { ru: 'Выручка и заказы по минутам', en: 'Revenue and orders per minute' },
    series_hour: { ru: 'Выручка и заказы по часам', en: 'Revenue and orders per hour' },
    for_range: { ru: 'за выбранный период', en: 'for the selected range' },
    all_time: { ru: 'за всё время', en: 'all time' },
    s_time: { ru: 'Время', en: 'Time' },
    s_hour: { ru: 'Час', en: 'Hour' },
    s_product: { ru: 'Товар', en: 'Product' },
    s_revenue: { ru: 'Выручка', en: 'Revenue' },
    s_orders: { ru: 'Заказы', en: 'Orders' },
    s_items: { ru: 'Товары, шт.', en: 'Items sold' },
    s_incoming: { ru: 'Приход', en: 'Incoming' },
    s_outgoing: { ru: 'Расход', en: 'Outgoing' },
    by_category: { ru: 'Выручка по категориям', en: 'Revenue by category' },
    sales_24h: { ru: 'Продажи за 24 часа', en: 'Sales, last 24 hours' },
    per_hour: { ru: 'товары и выручка по часам', en: 'items and revenue per hour' },
    stock_top5: { ru: 'Приход и расход: топ-5 товаров', en: 'Incoming vs outgoing: top 5 products' },
    last_7d: { ru: 'за 7 дней', en: 'last 7 days' },
    recent_sales: { ru: 'Последние продажи', en: 'Recent sales' },
    last_10: { ru: '10 последних', en: 'last 10' },
    col_product: { ru: 'Товар', en: 'Product' },
    col_qty: { ru: 'Кол-во', en: 'Qty' },
    col_price: { ru: 'Цена', en: 'Price' },
    col_time: { ru: 'Время', en: 'Time' },
    // short column headers for narrow screens
    col_qty_s: { ru: 'Шт.', en: 'Qty' },
    col_supplied_s: { ru: 'Пост.', en: 'Suppl.' },
    col_relocated_s: { ru: 'Перем.', en: 'Reloc.' },
    col_written_off_s: { ru: 'Спис.', en: 'W/off' },
    col_level_s: { ru: 'Ост.', en: 'Level' },
    col_produced_s: { ru: 'Отпр./с', en: 'Prod/s' },
    col_landed_s: { ru: 'Зап./с', en: 'Land/s' },
    col_rows_s: { ru: 'Строк', en: 'Rows' },
    col_lag_s: { ru: 'Отст.', en: 'Lag' },
    col_dead_s: { ru: 'Откл.', en: 'DLQ' },
    stock_levels: { ru: 'Остатки по складам', en: 'Stock by warehouse' },
    col_warehouse: { ru: 'Склад', en: 'Warehouse' },
    col_supplied: { ru: 'Поставлено', en: 'Supplied' },
    col_relocated: { ru: 'Перемещено', en: 'Relocated' },
    col_written_off: { ru: 'Списано', en: 'Written off' },
    col_level: { ru: 'Остаток', en: 'Level' },
    movement_mix: { ru: 'Типы движений', en: 'Movement mix' },
    mv_supply: { ru: 'Поставка', en: 'Supply' },
    mv_relocation: { ru: 'Перемещение', en: 'Relocation' },
    mv_write_off: { ru: 'Списание', en: 'Write-off' },
    units: { ru: 'шт.', en: 'units' },
    pipeline: { ru: 'Состояние конвейера', en: 'Pipeline health' },
    col_topic: { ru: 'Топик', en: 'Topic' },
    col_table: { ru: 'Таблица', en: 'Table' },
    col_produced: { ru: 'Отправлено/с', en: 'Produced/s' },
    col_landed: { ru: 'Записано/с', en: 'Landed/s' },
    col_rows: { ru: 'Строк', en: 'Rows' },
    col_lag: { ru: 'Отставание', en: 'Lag' },
    stalled: { ru: 'стоит {s} с', en: 'stalled {s} s' },
    col_dead: { ru: 'Отклонено', en: 'Dead letters' },
    dlq_title: { ru: 'Отклонённые сообщения', en: 'Dead letters' },
    dlq_hint: { ru: 'последние 50, сообщение — первые 200 символов', en: 'latest 50, message: first 200 characters' },
    dlq_place: { ru: 'Раздел / смещение', en: 'Partition / offset' },
    dlq_reason: { ru: 'Причина', en: 'Reason' },
    dlq_message: { ru: 'Сообщение', en: 'Message' },
    dlq_open: { ru: 'Показать отклонённые сообщения', en: 'Show the dead letters' },
    close: { ru: 'Закрыть', en: 'Close' },
    latency_p50: { ru: 'Задержка p50', en: 'Latency p50' },
    latency_p95: { ru: 'Задержка p95', en: 'Latency p95' },
    latency_samples: { ru: 'Замеров', en: 'Samples' },
    sec: { ru: '{n} с', en: '{n} s' },
    ch_ok: { ru: 'ClickHouse {v} · в норме', en: 'ClickHouse {v} · OK' },
    ch_down: { ru: 'ClickHouse · недоступен с {since}', en: 'ClickHouse · down since {since}' },
    ch_unknown: { ru: 'ClickHouse · нет данных', en: 'ClickHouse · unknown' },
    broker_ok: { ru: 'Kafka · в норме', en: 'Kafka · OK' },
    broker_down: { ru: 'Kafka · недоступен с {since}', en: 'Kafka · down since {since}' },
    broker_unknown: { ru: 'Kafka · нет данных', en: 'Kafka · unknown' },
    gen_running: { ru: 'Генератор: {e} · сбоев: {f}', en: 'Generator: {e} · failures: {f}' },
    gen_stopped: { ru: 'Генератор остановлен: {e} · сбоев: {f}', en: 'Generator stopped: {e} · failures: {f}' },
    no_data: { ru: 'Пока нет данных', en: 'No data yet' },
    footer: {
      ru: 'Обновления приходят по Server-Sent Events каждую секунду, без перезагрузки страницы.',
      en: 'Updates arrive every second over Server-Sent Events, without reloading the page.',
    },
  };
  // counted nouns: Intl.PluralRules categories
  const PLURALS = {
    orders: { ru: { one: 'заказ', few: 'заказа', many: 'заказов', other: 'заказа' }, en: { one: 'order', other: 'orders' } },
    events: { ru: { one: 'событие', few: 'события', many: 'событий', other: 'события' }, en: { one: 'event', other: 'events' } },
  };
  const RANGES = ['15m', '1h', '24h', '7d'];
  const LOCALES = { ru: 'ru-RU', en: 'en-US' };
  const KPIS = ['revenue', 'orders', 'items', 'avg_ticket', 'unique_customers'];
  const COLORS = {
    revenue: '#4f46e5', orders: '#f59e0b', items: '#0d9488',
    incoming: '#0ea5e9', outgoing: '#f97316',
    axis: '#64748b', grid: 'rgba(100,116,139,0.14)',
  };
  const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

  // ---------------------------------------------------------------- state
  const params = new URLSearchParams(location.search);
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch (_) { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch (_) { /* private mode */ } },
  };
  let lang = pick(params.get('lang'), ['ru', 'en']) || pick(store.get('dash.lang'), ['ru', 'en']) || 'ru';
  let range = pick(params.get('range'), RANGES) || pick(store.get('dash.range'), RANGES) || '1h';
  let last = null;          // last snapshot received (for re-rendering on language change)
  let lastParts = {};       // last non-null parts, kept while ClickHouse is down
  let recentKeys = null;    // keys of the recent-sales rows shown, to flash new ones
  let salesLabels = [];
  let stockProducts = [];
  const bucketOf = (r) => (r === '7d' || r === '24h' ? 3600 : 60);
  let bucketSeconds = bucketOf(range);

  function pick(v, allowed) { return allowed.indexOf(v) >= 0 ? v : null; }
  const $ = (id) => document.getElementById(id);

  function t(key, vars) {
    const e = DICT[key];
    let s = e ? (e[lang] || e.ru) : key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }
  function plural(key, n) {
    const forms = PLURALS[key][lang];
    const cat = fmt.plural.select(n);
    return forms[cat] || forms.other;
  }

  // ---------------------------------------------------------------- formatting
  let fmt = null;
  function buildFormatters() {
    const loc = LOCALES[lang];
    const money = (d) => new Intl.NumberFormat(loc, {
      style: 'currency', currency: 'RUB', currencyDisplay: 'narrowSymbol',
      minimumFractionDigits: d, maximumFractionDigits: d,
    });
    fmt = {
      money0: money(0), money2: money(2),
      int: new Intl.NumberFormat(loc, { maximumFractionDigits: 0 }),
      dec2: new Intl.NumberFormat(loc, { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
      dec1: new Intl.NumberFormat(loc, { minimumFractionDigits: 1, maximumFractionDigits: 1 }),
      pct: new Intl.NumberFormat(loc, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }),
      compact: new Intl.NumberFormat(loc, { notation: 'compact', maximumFractionDigits: 1 }),
      time: new Intl.DateTimeFormat(loc, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }),
      date: new Intl.DateTimeFormat(loc, { year: 'numeric', month: '2-digit', day: '2-digit' }),
      hm: new Intl.DateTimeFormat(loc, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
      day: new Intl.DateTimeFormat(loc, { day: 'numeric', month: 'short' }),
      dayHm: new Intl.DateTimeFormat(loc, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
      plural: new Intl.PluralRules(loc),
    };
  }
  const isNum = (v) => typeof v === 'number' && isFinite(v);
  const nz = (v, f) => (isNum(v) ? f.format(v) : '—');
  const money = (v) => nz(v, Math.abs(v) >= 10000 ? fmt.money0 : fmt.money2);
  const int = (v) => nz(v, fmt.int);
  const secs = (ms) => (isNum(ms) ? t('sec', { n: fmt.dec1.format(ms / 1000) }) : '—');
  const ts = (sec) => new Date(sec * 1000);

  function axisTimes(u, splits) {
    const span = (u.scales.x.max || 0) - (u.scales.x.min || 0);
    return splits.map((s) => {
      if (s == null) return '';
      const d = ts(s);
      const midnight = d.getHours() === 0 && d.getMinutes() === 0;
      if (span > 2 * 86400) return midnight ? fmt.day.format(d) : fmt.hm.format(d);
      if (span > 6 * 3600 && midnight) return fmt.day.format(d);
      return fmt.hm.format(d);
    });
  }
  function truncate(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  // ---------------------------------------------------------------- charts
  const charts = {};
  const zeroFloor = (u, min, max) => {
    if (!isNum(max) || max <= 0) return [0, 1];
    return uPlot.rangeNum(0, max, 0.1, true);
  };
  // y-axis width from its longest tick label (the uPlot recipe), so labels are never clipped
  function axisSize(u, values, axisIdx, cycleNum) {
    const a = u.axes[axisIdx];
    if (cycleNum > 1 && a._size) return a._size;
    let longest = '';
    (values || []).forEach((v) => { if (v != null && String(v).length > longest.length) longest = String(v); });
    let w = 0;
    if (longest) { u.ctx.font = a.font[0]; w = u.ctx.measureText(longest).width / (window.devicePixelRatio || 1); }
    return Math.max(28, Math.ceil(w + a.ticks.size + a.gap + 8));
  }
  // when the cursor is off the plot, the legend shows the latest point instead of blanks
  function legendLatest(u) {
    if (u.cursor.idx == null) {
      const n = u.data[0] ? u.data[0].length : 0;
      if (n > 0) u.setLegend({ idx: n - 1 });
    }
  }
  const latestHooks = { setData: [legendLatest], setCursor: [legendLatest] };
  function axis(extra) {
    return Object.assign({
      font: FONT, stroke: COLORS.axis, size: axisSize, gap: 4,
      grid: { stroke: COLORS.grid, width: 1 },
      ticks: { stroke: COLORS.grid, width: 1, size: 4 },
    }, extra);
  }
  function chartSize(el) {
    const w = Math.max(240, Math.floor(el.clientWidth || 600));
    const h = el.dataset.h ? +el.dataset.h : 260;
    return { width: w, height: window.innerWidth < 720 ? Math.min(h, 220) : h };
  }
  function makeChart(id, opts, data) {
    const el = $(id);
    const u = new uPlot(Object.assign({}, chartSize(el), opts), data, el);
    let lastW = el.clientWidth;
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w && w !== lastW) { lastW = w; u.setSize(chartSize(el)); }
    });
    ro.observe(el);
    return u;
  }
  function createCharts() {
    const cursor = { drag: { x: false, y: false }, points: { size: 7 } };
    const bars = uPlot.paths.bars;

    $('chart-series').dataset.h = '280';
    charts.series = makeChart('chart-series', {
      cursor, hooks: latestHooks,
      scales: { x: { time: true }, rub: { range: zeroFloor }, cnt: { range: zeroFloor } },
      series: [
        { label: t('s_time'), value: (u, v) => (v == null ? '—' : (bucketSeconds >= 3600 ? fmt.dayHm : fmt.hm).format(ts(v))) },
        { label: t('s_orders'), scale: 'cnt', stroke: COLORS.orders, fill: 'rgba(245,158,11,0.45)', width: 0,
          paths: bars({ size: [0.7, 12] }), points: { show: false }, value: (u, v) => int(v) },
        { label: t('s_revenue'), scale: 'rub', stroke: COLORS.revenue, width: 2, fill: 'rgba(79,70,229,0.10)',
          points: { show: false }, value: (u, v) => money(v) },
      ],
      axes: [
        axis({ values: axisTimes, size: 30, space: 64 }),
        axis({ scale: 'rub', stroke: COLORS.revenue, values: (u, s) => s.map((v) => fmt.compact.format(v)) }),
        axis({ scale: 'cnt', side: 1, stroke: COLORS.orders, grid: { show: false },
          values: (u, s) => s.map((v) => (Number.isInteger(v) ? fmt.int.format(v) : '')) }),
      ],
    }, [[], [], []]);

    charts.sales = makeChart('chart-sales', {
      cursor, hooks: latestHooks,
      scales: { x: { time: false }, qty: { range: zeroFloor }, rub: { range: zeroFloor } },
      series: [
        { label: t('s_hour'), value: (u, v) => (v == null ? '—' : (salesLabels[v] || '—')) },
        { label: t('s_items'), scale: 'qty', stroke: COLORS.items, width: 2, fill: 'rgba(13,148,136,0.08)',
          points: { size: 4 }, value: (u, v) => int(v) },
        { label: t('s_revenue'), scale: 'rub', stroke: COLORS.revenue, width: 2,
          points: { size: 4 }, value: (u, v) => money(v) },
      ],
      axes: [
        axis({ size: 30, space: 44, incrs: [1, 2, 3, 4, 6, 12],
          values: (u, s) => s.map((i) => (Number.isInteger(i) && salesLabels[i] != null ? salesLabels[i] : '')) }),
        axis({ scale: 'qty', stroke: COLORS.items, values: (u, s) => s.map((v) => fmt.compact.format(v)) }),
        axis({ scale: 'rub', side: 1, stroke: COLORS.revenue, grid: { show: false },
          values: (u, s) => s.map((v) => fmt.compact.format(v)) }),
      ],
    }, [[], [], []]);

    charts.stock = makeChart('chart-stock', {
      cursor: { drag: { x: false, y: false }, points: { show: false } }, hooks: latestHooks,
      scales: {
        x: { time: false, range: (u, min, max) => (isNum(min) && isNum(max) ? [min - 0.5, max + 0.5] : [-0.5, 4.5]) },
        y: { range: zeroFloor },
      },
      series: [
        { label: t('s_product'), value: (u, v) => (v == null ? '—' : (stockProducts[v] != null ? stockProducts[v] : '—')) },
        { label: t('s_incoming'), stroke: COLORS.incoming, fill: 'rgba(14,165,233,0.85)', width: 0,
          paths: bars({ size: [0.32, 56], align: -1, radius: 0.15 }), points: { show: false }, value: (u, v) => int(v) },
        { label: t('s_outgoing'), stroke: COLORS.outgoing, fill: 'rgba(249,115,22,0.85)', width: 0,
          paths: bars({ size: [0.32, 56], align: 1, radius: 0.15 }), points: { show: false }, value: (u, v) => int(v) },
      ],
      axes: [
        axis({ size: 30, grid: { show: false },
          splits: (u) => u.data[0].map((_, i) => i),
          values: (u, s) => {
            // fit product names to the room each group of bars has
            const per = u.bbox.width / (window.devicePixelRatio || 1) / Math.max(1, stockProducts.length);
            const max = Math.max(4, Math.floor((per - 6) / 6.5));
            return s.map((i) => (stockProducts[i] != null ? truncate(stockProducts[i], max) : ''));
          } }),
        axis({ values: (u, s) => s.map((v) => fmt.compact.format(v)) }),
      ],
    }, [[], [], []]);
  }
  function relabel(u, labels) {
    const rows = u.root.querySelectorAll('.u-legend .u-series');
    labels.forEach((l, i) => {
      u.series[i].label = l;
      const el = rows[i] && rows[i].querySelector('.u-label');
      if (el) el.textContent = l;
    });
  }
  // setData only when the data really changed (keeps the hover legend calm)
  const sigs = {};
  function setChart(name, data) {
    const sig = JSON.stringify(data);
    if (sigs[name] === sig) return;
    sigs[name] = sig;
    charts[name].setData(data);
  }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  // make tbody have n rows of m cells, reusing existing ones; returns the rows
  function rows(tbody, n, m, numFrom) {
    for (let i = tbody.rows.length - 1; i >= 0; i--) if (tbody.rows[i].cells.length !== m) tbody.deleteRow(i);
    while (tbody.rows.length > n) tbody.deleteRow(-1);
    while (tbody.rows.length < n) {
      const tr = tbody.insertRow(-1);
      for (let j = 0; j < m; j++) { const td = tr.insertCell(-1); if (j >= numFrom) td.className = 'num'; }
    }
    return Array.from(tbody.rows);
  }
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
  function show(node, on) { node.hidden = !on; }

  // ---------------------------------------------------------------- rendering
  // When a service went down, as this server first saw it ('—' before it knows).
  function downSince(svc) {
    return svc && isNum(svc.down_since) ? fmt.time.format(ts(svc.down_since)) : '—';
  }
  function render(snap) {
    last = snap;
    const health = snap.health || null;
    const ch = health ? health.clickhouse : null;
    // Down: ClickHouse does not answer. An error: it answers, but a query of the page failed.
    const chDown = !health || !ch || ch.ok === false;
    const chError = !chDown && snap.error != null;
    const brokerDown = !!(health && health.broker && health.broker.ok === false);
    const status = snap.status || null;
    const waiting = !chDown && status && status.status === 'waiting_for_data';

    if (isNum(snap.at)) setText($('updated'), fmt.time.format(ts(snap.at)));

    // banners
    const chErr = snap.error || (ch && ch.error) || t('unknown_error');
    const hadData = Object.keys(lastParts).length > 0 || snap.overview != null;
    setText($('banner-ch'), t(chError ? 'banner_ch_error' : hadData ? 'banner_ch' : 'banner_ch_nodata', { err: chErr, since: downSince(ch) }));
    show($('banner-ch'), chDown || chError);
    const brErr = (health && health.broker && health.broker.error) || t('unknown_error');
    setText($('banner-broker'), t('banner_broker', { err: brErr, since: downSince(health && health.broker) }));
    show($('banner-broker'), brokerDown);
    // A guard (duplicate check, rollup check, 18.16 verifier or rescue) failing for over 30 s.
    const failing = ((health && health.guards) || []).filter((g) => isNum(g.failing_since)
      && Date.now() / 1000 - g.failing_since > 30);
    setText($('banner-guard'), failing.map((g) => t('banner_guard', {
      name: String(g.name), since: fmt.time.format(ts(g.failing_since)),
      err: g.last_error == null ? t('unknown_error') : String(g.last_error) })).join(' '));
    show($('banner-guard'), failing.length > 0);
    setText($('banner-waiting'), t('banner_waiting'));
    show($('banner-waiting'), !!waiting);
    document.body.classList.toggle('degraded', chDown || chError);

    // status line
    let st, stState;
    if (chDown) { st = t('status_ch_down'); stState = 'error'; }
    else if (chError) { st = t('status_ch_error'); stState = 'error'; }
    else if (!status) { st = t('status_connecting'); stState = 'idle'; }
    else if (status.status === 'ready') { st = t('status_ready', { s: int(status.sales_count), m: int(status.stock_count) }); stState = 'ready'; }
    else if (status.status === 'waiting_for_data') { st = t('status_waiting'); stState = 'waiting'; }
    else { st = t('status_error'); stState = 'error'; }
    const stEl = $('status');
    setText(stEl, st);
    stEl.dataset.value = chDown ? 'clickhouse_unreachable' : chError ? 'clickhouse_error' : (status ? String(status.status) : '');
    $('status-dot').dataset.state = stState;

    // parts read from ClickHouse: keep the last ones while they are null
    for (const k of ['overview', 'sales', 'stock', 'recent_sales']) if (snap[k] != null) lastParts[k] = snap[k];
    if (snap.overview && snap.overview.range === range) document.body.classList.remove('loading');
    const ov = lastParts.overview;
    if (ov && ov.range === range) renderOverview(ov);
    if (lastParts.sales) renderSales(lastParts.sales);
    if (lastParts.stock) renderStock(lastParts.stock);
    if (lastParts.recent_sales) renderRecent(lastParts.recent_sales);
    renderHealth(health);
  }

  function renderOverview(ov) {
    const k = ov.kpis || {};
    for (const name of KPIS) {
      const tile = document.querySelector('.kpi[data-kpi="' + name + '"]');
      const valEl = tile.querySelector('.kpi-value');
      const dEl = tile.querySelector('.kpi-delta');
      const x = k[name] || {};
      const v = x.value, p = x.previous;
      const text = name === 'revenue' ? money(v)
        : name === 'avg_ticket' ? nz(v, fmt.money2) : int(v);
      setText(valEl, text);
      valEl.dataset.value = isNum(v) ? String(v) : '';
      let dText = '—', dir = 'flat';
      if (isNum(v) && isNum(p) && p !== 0) {
        const ch = (v - p) / Math.abs(p);
        dir = ch > 0.0005 ? 'up' : ch < -0.0005 ? 'down' : 'flat';
        dText = (dir === 'up' ? '▲ ' : dir === 'down' ? '▼ ' : '') + fmt.pct.format(Math.abs(ch));
      }
      dEl.dataset.dir = dir;
      dEl.dataset.value = isNum(p) ? String(p) : '';
      dEl.textContent = '';
      dEl.append(el('span', 'delta-val', dText), el('span', 'delta-note', ' ' + t('vs_prev')));
      dEl.title = isNum(p) ? t('prev_was', { v: name === 'revenue' || name === 'avg_ticket' ? money(p) : int(p) }) : '';
    }

    bucketSeconds = ov.bucket_seconds || bucketSeconds;
    setText($('series-title'), t(bucketSeconds >= 3600 ? 'series_hour' : 'series_min'));
    setText($('series-hint'), t('range_' + range));
    const s = ov.series || {};
    if (Array.isArray(s.t)) setChart('series', [s.t, s.orders || [], s.revenue || []]);

    // revenue by category (CSS bar list)
    const cats = (ov.revenue_by_category || []).slice().sort((a, b) => (b.revenue || 0) - (a.revenue || 0));
    const maxRev = Math.max(0, ...cats.map((c) => c.revenue || 0));
    barList($('categories'), cats.map((c) => ({
      key: String(c.category),
      name: String(c.category),
      value: money(c.revenue),
      sub: int(c.orders) + ' ' + plural('orders', c.orders || 0),
      frac: maxRev > 0 ? (c.revenue || 0) / maxRev : 0,
    })));
    show($('categories-empty'), cats.length === 0);

    // movement mix
    const mix = ov.movement_mix || [];
    const totalQty = mix.reduce((a, m) => a + (m.quantity || 0), 0);
    barList($('mix'), mix.map((m) => ({
      key: String(m.movement_type),
      name: DICT['mv_' + m.movement_type] ? t('mv_' + m.movement_type) : String(m.movement_type),
      value: totalQty > 0 ? fmt.pct.format((m.quantity || 0) / totalQty) : '—',
      sub: int(m.events) + ' ' + plural('events', m.events || 0) + ' · ' + int(m.quantity) + ' ' + t('units'),
      frac: totalQty > 0 ? (m.quantity || 0) / totalQty : 0,
      type: String(m.movement_type),
    })));
    show($('mix-empty'), mix.length === 0);

    // stock levels per warehouse
    const lv = ov.stock_levels || [];
    const trs = rows($('levels'), lv.length, 5, 1);
    lv.forEach((w, i) => {
      const c = trs[i].cells;
      setText(c[0], String(w.warehouse));
      setText(c[1], int(w.supplied));
      setText(c[2], int(w.relocated));
      setText(c[3], int(w.written_off));
      setText(c[4], int(w.level));
      c[4].classList.add('strong');
      c[4].classList.toggle('neg', isNum(w.level) && w.level < 0);
    });
    if (lv.length === 0) emptyRow($('levels'), 5);
  }

  function emptyRow(tbody, span) {
    const tr = tbody.insertRow(-1);
    const td = tr.insertCell(-1);
    td.colSpan = span;
    td.className = 'empty';
    td.dataset.i18n = 'no_data';
    td.textContent = t('no_data');
  }

  function barList(ul, items) {
    while (ul.children.length > items.length) ul.lastElementChild.remove();
    while (ul.children.length < items.length) {
      const li = el('li', 'bar');
      const head = el('div', 'bar-head');
      head.append(el('span', 'bar-name'), el('span', 'bar-val'));
      const track = el('div', 'bar-track');
      track.append(el('div', 'bar-fill'));
      li.append(head, track, el('div', 'bar-sub'));
      ul.append(li);
    }
    items.forEach((it, i) => {
      const li = ul.children[i];
      li.dataset.key = it.key;
      if (it.type) li.dataset.type = it.type; else delete li.dataset.type;
      setText(li.querySelector('.bar-name'), it.name);
      setText(li.querySelector('.bar-val'), it.value);
      setText(li.querySelector('.bar-sub'), it.sub);
      li.querySelector('.bar-fill').style.width = (Math.max(0, Math.min(1, it.frac)) * 100).toFixed(1) + '%';
    });
  }

  function renderSales(s) {
    salesLabels = (s.labels || []).map(String);
    const n = salesLabels.length;
    setChart('sales', [Array.from({ length: n }, (_, i) => i), s.quantity || [], s.revenue || []]);
  }

  function renderStock(s) {
    stockProducts = (s.products || []).map(String);
    const n = stockProducts.length;
    setChart('stock', [Array.from({ length: n }, (_, i) => i), s.incoming || [], s.outgoing || []]);
  }

  function renderRecent(list) {
    const tbody = $('recent');
    const keys = list.map((r) => [r.event_time, r.product_id, r.quantity, r.price].join('|'));
    const trs = rows(tbody, list.length, 4, 1);
    list.forEach((r, i) => {
      const c = trs[i].cells;
      // The name, and the id as the original page showed it.
      const id = '#' + String(r.product_id);
      const name = r.product_name == null ? '' : String(r.product_name);
      if (c[0].dataset.key !== name + id) {
        c[0].textContent = '';
        c[0].append(name + ' ', el('span', 'mono muted', id));
        c[0].dataset.key = name + id;
      }
      c[0].title = name + ' ' + id;
      setText(c[1], int(r.quantity));
      setText(c[2], isNum(r.price) ? fmt.money2.format(r.price) : String(r.price == null ? '—' : r.price));
      // "YYYY-MM-DD HH:MM:SS": the date part hides on narrow screens; textContent stays whole
      const et = String(r.event_time == null ? '—' : r.event_time);
      if (c[3].textContent !== et) {
        const sp = et.indexOf(' ');
        c[3].textContent = '';
        if (sp > 0) c[3].append(el('span', 'date', et.slice(0, sp + 1)), et.slice(sp + 1));
        else c[3].textContent = et;
      }
      c[3].title = et;
      c[0].className = 'product';
      c[3].className = 'num mono muted';
      const tr = trs[i];
      if (recentKeys && recentKeys.indexOf(keys[i]) < 0) {
        tr.classList.remove('fresh');
        void tr.offsetWidth; // restart the animation
        tr.classList.add('fresh');
      }
    });
    if (list.length === 0) emptyRow(tbody, 4);
    recentKeys = keys;
  }

  function renderHealth(h) {
    const pCh = $('pill-ch'), pBr = $('pill-broker'), pGen = $('pill-gen');
    const ch = h && h.clickhouse;
    if (!ch) { setText(pCh, t('ch_unknown')); pCh.dataset.state = 'down'; }
    else if (ch.ok) { setText(pCh, t('ch_ok', { v: ch.version || '' }).replace('  ', ' ')); pCh.dataset.state = 'ok'; }
    else { setText(pCh, t('ch_down', { since: downSince(ch) })); pCh.dataset.state = 'down'; }
    pCh.title = ch && ch.error ? String(ch.error) : '';
    const br = h && h.broker;
    if (!br) { setText(pBr, t('broker_unknown')); pBr.dataset.state = 'unknown'; }
    else if (br.ok) { setText(pBr, t('broker_ok')); pBr.dataset.state = 'ok'; }
    else { setText(pBr, t('broker_down', { since: downSince(br) })); pBr.dataset.state = 'down'; }
    pBr.title = br && br.error ? String(br.error) : '';
    const g = h && h.generator;
    if (g) {
      const e = (g.events == null ? '—' : int(g.events) + ' ' + plural('events', g.events || 0));
      setText(pGen, t(g.running === false ? 'gen_stopped' : 'gen_running', { e, f: int(g.failures) }));
      pGen.dataset.state = g.running === false ? 'unknown' : (g.failures > 0 ? 'warn' : 'ok');
    }
    show(pGen, !!g);
    const guards = (h && h.guards) || [];
    const gp = $('guard-pills');
    while (gp.children.length > guards.length) gp.lastChild.remove();
    while (gp.children.length < guards.length) gp.append(el('span', 'pill'));
    guards.forEach((x, i) => {
      const p = gp.children[i];
      const bad = isNum(x.failing_since);
      setText(p, bad ? t('guard_failing', { name: String(x.name), since: fmt.time.format(ts(x.failing_since)) })
        : t('guard_ok', { name: String(x.name) }));
      p.dataset.state = bad ? 'down' : 'ok';
      p.setAttribute('data-testid', 'guard-' + String(x.name));
      p.title = bad && x.last_error != null ? String(x.last_error) : int(x.passes) + ' ✓';
    });
    if (!h) return;

    const topics = h.topics || [];
    const trs = rows($('topics'), topics.length, 7, 2);
    topics.forEach((tp, i) => {
      const c = trs[i].cells;
      const name = String(tp.topic);
      setText(c[0], name);
      setText(c[1], tp.table == null ? '—' : String(tp.table));
      setText(c[2], nz(tp.produced_per_s, fmt.dec2));
      setText(c[3], nz(tp.landed_per_s, fmt.dec2));
      setText(c[4], int(tp.rows));
      const stalled = isNum(tp.stalled_for_s);
      setText(c[5], stalled ? int(tp.lag) + ' ⚠ ' + t('stalled', { s: int(tp.stalled_for_s) }) : int(tp.lag));
      setText(c[6], int(tp.dead_letters));
      c[0].className = 'mono strong';
      c[1].className = 'mono muted hide-sm';
      c[3].setAttribute('data-testid', 'health-' + name + '-landed');
      c[3].dataset.value = isNum(tp.landed_per_s) ? String(tp.landed_per_s) : '';
      c[4].setAttribute('data-testid', 'health-' + name + '-rows');
      c[4].dataset.value = isNum(tp.rows) ? String(tp.rows) : '';
      c[5].classList.toggle('warn', !stalled && isNum(tp.lag) && tp.lag > 1000);
      c[5].classList.toggle('bad', stalled);
      c[5].setAttribute('data-testid', 'health-' + name + '-lag');
      c[6].classList.toggle('bad', isNum(tp.dead_letters) && tp.dead_letters > 0);
      c[6].classList.add('dlq-open');
      c[6].setAttribute('data-testid', 'health-' + name + '-dead');
      c[6].setAttribute('role', 'button');
      c[6].tabIndex = 0;
      c[6].title = t('dlq_open');
      trs[i].dataset.topic = name;
    });
    if (topics.length === 0) emptyRow($('topics'), 7);

    const lat = h.latency_ms || {};
    setText($('lat-p50'), secs(lat.p50));
    $('lat-p50').dataset.value = isNum(lat.p50) ? String(lat.p50) : '';
    setText($('lat-p95'), secs(lat.p95));
    $('lat-p95').dataset.value = isNum(lat.p95) ? String(lat.p95) : '';
    setText($('lat-n'), int(lat.samples));
  }

  // ---------------------------------------------------------------- dead letters
  // Opened from a topic's dead-letter count; refreshed every 2 s while open. Every field is
  // set as text: a message is whatever someone sent, markup and scripts included.
  let dlqTimer = null;
  function renderDeadLetters(list) {
    const tbody = $('dlq-rows');
    const trs = rows(tbody, list.length, 5, 2);
    list.forEach((d, i) => {
      const c = trs[i].cells;
      setText(c[0], isNum(d.received_at) ? fmt.date.format(ts(d.received_at)) + ' ' + fmt.time.format(ts(d.received_at)) : '—');
      setText(c[1], String(d.topic));
      setText(c[2], (d.partition < 0 ? '—' : String(d.partition)) + ' / ' + (d.offset < 0 ? '—' : String(d.offset)));
      setText(c[3], String(d.reason));
      setText(c[4], String(d.preview) + (d.truncated ? ' …' : ''));
      c[0].className = 'mono muted';
      c[1].className = 'mono';
      c[2].className = 'num mono';
      c[3].className = '';
      c[4].className = 'mono preview';
      c[4].title = String(d.bytes) + ' B';
    });
    if (list.length === 0) emptyRow(tbody, 5);
  }
  async function loadDeadLetters() {
    // While ClickHouse is down the panel keeps what it showed; the banner says why.
    if (document.body.classList.contains('degraded')) return;
    try {
      const r = await fetch('/api/dead_letters');
      if (r.ok) renderDeadLetters(await r.json());
    } catch (_) { /* the next refresh retries */ }
  }
  function openDeadLetters() {
    show($('dlq'), true);
    loadDeadLetters();
    clearInterval(dlqTimer);
    dlqTimer = setInterval(loadDeadLetters, 2000);
    $('dlq').scrollIntoView({ block: 'start' });
  }
  function closeDeadLetters() {
    show($('dlq'), false);
    clearInterval(dlqTimer);
  }
  $('topics').addEventListener('click', (e) => { if (e.target.closest('.dlq-open')) openDeadLetters(); });
  $('topics').addEventListener('keydown', (e) => { if ((e.key === 'Enter' || e.key === ' ') && e.target.closest('.dlq-open')) { e.preventDefault(); openDeadLetters(); } });
  $('dlq-close').addEventListener('click', closeDeadLetters);

  // ---------------------------------------------------------------- language and range
  function applyLang() {
    buildFormatters();
    document.documentElement.lang = lang;
    document.title = t('title');
    document.querySelectorAll('[data-i18n]').forEach((n) => {
      if (n.dataset.i18nShort) {
        n.textContent = '';
        n.append(el('span', 'lbl-long', t(n.dataset.i18n)), el('span', 'lbl-short', t(n.dataset.i18nShort)));
        n.title = t(n.dataset.i18n);
      } else n.textContent = t(n.dataset.i18n);
    });
    document.querySelectorAll('[data-i18n-aria]').forEach((n) => n.setAttribute('aria-label', t(n.dataset.i18nAria)));
    document.querySelectorAll('[data-i18n-title]').forEach((n) => { n.title = t(n.dataset.i18nTitle); });
    const lb = $('lang');
    lb.textContent = lang === 'ru' ? 'EN' : 'RU';
    lb.title = t('lang_switch');
    lb.setAttribute('aria-label', t('lang_switch'));
    lb.dataset.value = lang;
    setText($('series-title'), t(bucketSeconds >= 3600 ? 'series_hour' : 'series_min'));
    setText($('series-hint'), t('range_' + range));
    setConn(connState);
    if (charts.series) {
      relabel(charts.series, [t('s_time'), t('s_orders'), t('s_revenue')]);
      relabel(charts.sales, [t('s_hour'), t('s_items'), t('s_revenue')]);
      relabel(charts.stock, [t('s_product'), t('s_incoming'), t('s_outgoing')]);
      for (const k in charts) {
        const u = charts[k];
        u.redraw(false, true);
        const n = u.data[0] ? u.data[0].length : 0;
        if (n > 0) u.setLegend({ idx: u.cursor.idx != null ? u.cursor.idx : n - 1 });
      }
    }
    setText($('banner-stream'), t('banner_stream'));
    if (last) render(last); else { setText($('status'), t('status_connecting')); renderHealth(null); }
  }

  function applyRange() {
    document.querySelectorAll('#ranges button').forEach((b) => {
      const on = b.dataset.range === range;
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
      b.classList.toggle('active', on);
    });
    setText($('series-hint'), t('range_' + range));
  }

  // ---------------------------------------------------------------- stream
  let es = null, connState = 'connecting', lastMsgAt = 0, retryTimer = null, retryDelay = 2000;
  function setConn(state) {
    connState = state;
    const c = $('conn');
    c.dataset.state = state;
    setText($('conn-text'), t('conn_' + state));
    show($('banner-stream'), state === 'reconnecting');
  }
  function openStream() {
    clearTimeout(retryTimer);
    if (es) { es.close(); es = null; }
    setConn(connState === 'reconnecting' ? 'reconnecting' : 'connecting');
    const src = new EventSource('/api/stream?range=' + encodeURIComponent(range));
    es = src;
    lastMsgAt = Date.now();
    src.onopen = () => { if (es === src) retryDelay = 2000; };
    src.addEventListener('snapshot', (ev) => {
      if (es !== src) return;
      let snap;
      try { snap = JSON.parse(ev.data); } catch (e) { console.warn('bad snapshot', e); return; }
      if (!snap || (snap.range && snap.range !== range)) return;
      lastMsgAt = Date.now();
      if (connState !== 'live') setConn('live');
      render(snap);
    });
    src.onerror = () => {
      if (es !== src) return;
      setConn('reconnecting');
      // the browser retries by itself unless the answer was fatal (HTTP error, wrong type)
      if (src.readyState === EventSource.CLOSED) scheduleReopen();
    };
  }
  function scheduleReopen() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(openStream, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }
  setInterval(() => {
    const age = Date.now() - lastMsgAt;
    if (connState === 'live' && age > 5000) setConn('stale');
    if ((connState === 'stale' || connState === 'connecting') && age > 15000) { setConn('reconnecting'); openStream(); }
  }, 1000);

  // ---------------------------------------------------------------- start
  function start() {
    buildFormatters();
    createCharts();
    ['recent', 'levels', 'topics'].forEach((id) => emptyRow($(id), $(id).closest('table').tHead.rows[0].cells.length));
    show($('categories-empty'), true);
    show($('mix-empty'), true);
    renderHealth(null);
    applyRange();
    applyLang();
    document.querySelectorAll('#ranges button').forEach((b) => b.addEventListener('click', () => {
      const r = b.dataset.range;
      if (r === range) return;
      range = r;
      store.set('dash.range', r);
      bucketSeconds = bucketOf(r);
      document.body.classList.add('loading');
      applyRange();
      openStream();
    }));
    $('lang').addEventListener('click', () => {
      lang = lang === 'ru' ? 'en' : 'ru';
      store.set('dash.lang', lang);
      applyLang();
    });
    openStream();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
