SELECT marker FROM default.{{table}}
