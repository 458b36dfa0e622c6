-- Typed, renamed hourly consumption; timestamps are naive UTC from here on.
select
    timezone('UTC', HourUTC) as hour_utc,
    cast(HourDK as timestamp) as hour_dk,
    cast(PriceArea as varchar) as price_area,
    cast(ConsumerType_DE35 as integer) as consumer_type,
    PriceArea || '-' || cast(ConsumerType_DE35 as varchar) as segment_id,
    cast(TotalCon as double) as total_consumption_kwh,
    cast(day as date) as partition_day
from {{ source('lake', 'raw_consumption') }}
where {{ in_partition_window('cast(day as date)') }}
