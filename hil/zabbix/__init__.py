"""The bridge's Zabbix consumers: the template users import, and a check of it
through a real zabbix_agent2.

    template   the Zabbix 6.0 template, generated from the firmware's field table
    itemkey    Zabbix item keys: parameters, user macros, the MQTT topic of an item
    protocol   the active-check protocol (ZBXD frames) and a stand-in Zabbix server
    agent      zabbix_agent2 run with a config of its own, for one check
    check      the consumer check: the agent's values, stored as Zabbix would, held
               to the oracle
"""
