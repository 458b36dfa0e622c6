-- Typed, renamed hourly temperature per price area; timestamps are naive UTC from here on.
select
    timezone('UTC', HourUTC) as hour_utc,
    cast(PriceArea as varchar) as price_area,
    cast(Temperature as double) as temperature_c,
    cast(day as date) as partition_day
from {{ source('lake', 'raw_weather') }}
where {{ in_partition_window('cast(day as date)') }}
