-- Typed, renamed temperature forecasts: one row per issue, target hour and price area; naive UTC.
select
    timezone('UTC', IssueUTC) as issue_utc,
    timezone('UTC', HourUTC) as hour_utc,
    cast(PriceArea as varchar) as price_area,
    cast(Temperature as double) as temperature_c,
    cast(day as date) as partition_day
from {{ source('lake', 'raw_weather_forecast') }}
where {{ in_partition_window('cast(day as date)') }}
