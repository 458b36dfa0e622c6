{# Rows of the partition window [min_date, max_date) that Dagster passes through --vars. #}
{% macro in_partition_window(day_column) -%}
    {{ day_column }} >= cast('{{ var("min_date") }}' as date)
    and {{ day_column }} < cast('{{ var("max_date") }}' as date)
{%- endmacro %}

{# Re-running a window replaces it exactly: delete the window, then append it again. #}
{% macro delete_partition_window() -%}
    {% if is_incremental() %}
        delete from {{ this }} where {{ in_partition_window('partition_day') }}
    {% endif %}
{%- endmacro %}
