if(match(event_time_text, '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}$')
       AND toUInt16OrZero(substring(event_time_text, 1, 4)) BETWEEN 2000 AND 2100,
   ifNull(parseDateTimeBestEffortOrNull(event_time_text), toDateTime(0)),
   toDateTime(0))
