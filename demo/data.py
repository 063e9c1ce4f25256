"""The Longcheng demo data, from the seed article (龙城街道, 龙岗区, 深圳).

Its 11 communities, the estate branches named in its two project lists, and its twenty "ten best"
and "excellent" Party-building projects, each as a service with a plausible recurrence, venue, roles
and holiday policy; plus every community service centre's staggered-hours opening (错时服务).
"""

from __future__ import annotations

COMMUNITIES: list[tuple[str, str]] = [
    ("ailian", "爱联社区"),
    ("fengbei", "峰背社区"),
    ("jixiang", "吉祥社区"),
    ("yuyuan", "愉园社区"),
    ("huilongpu", "回龙埔社区"),
    ("huanggekeng", "黄阁坑社区"),
    ("zilu", "紫麓社区"),
    ("shangjing", "尚景社区"),
    ("shengping", "盛平社区"),
    ("longhongge", "龙红格社区"),
    ("xinlian", "新联社区"),
]

#: (slug, name, community slug)
BRANCHES: list[tuple[str, str, str]] = [
    ("shunjing", "顺景花园党支部", "ailian"),
    ("yangguang-tianjian", "阳光天健城花园党支部", "ailian"),
    ("ruizhi-huating", "睿智华庭花园小区党支部", "huanggekeng"),
    ("junyue-huating", "君悦华庭花园小区党支部", "huanggekeng"),
    ("zilu-garden", "紫麓花园小区党支部", "zilu"),
    ("city-garden", "城市花园党支部", "shangjing"),
    ("longfu-yicun", "龙福一村党支部", "shangjing"),
    ("wanxiang-tiancheng", "万象天成花园小区党支部", "shengping"),
    ("xinlonggang", "新龙岗花园党支部", "shengping"),
    ("yuyuan-xincun", "愉园新村党支部", "yuyuan"),
    ("oujing", "欧景花园党支部", "yuyuan"),
    ("hongjin", "鸿进花园党支部", "jixiang"),
    ("zhongyang-yuecheng", "中央悦城花园党支部", "huilongpu"),
]

#: One dict per service: slug, title, kind, owner ("branch:<slug>" or "community:<slug>"), venue, every
#: (shorthand) or rrule, time, duration (minutes), policy, roles, contact, visibility.
SERVICES: list[dict[str, object]] = [
    # 十佳党建项目
    dict(slug="shunjing-homework", title="课业加油站", kind="classroom", owner="branch:shunjing",
         venue="顺景花园党群之家", every="weekday", time="16:30", duration=120, policy="workdays",
         roles=["辅导员:3:tutor", "安全员:1"], contact="顺景花园党支部第一书记"),
    dict(slug="fengbei-governance", title="部门联动·基层治理议事会", kind="community", owner="community:fengbei",
         venue="峰背社区党群服务中心二楼会议室", every="2nd wednesday", time="15:00", duration=120,
         policy="skip_holidays", roles=["议事志愿者:4", "记录员:1"], contact="峰背社区党委"),
    dict(slug="jixiang-elderly-visit", title="关爱老人·入户探访", kind="elderly_care", owner="community:jixiang",
         venue="空巢老人家中（入户）", every="saturday", time="09:30", duration=120, policy="always",
         roles=["探访志愿者:4"], contact="吉祥社区党委", visibility="private"),
    dict(slug="yuyuan-art-troupe", title="义工艺术团慈善公益演出", kind="culture", owner="community:yuyuan",
         venue="愉园社区文化广场", every="last saturday", time="19:00", duration=120, policy="always",
         roles=["演员:8:performer", "场务:2"], contact="愉园社区党委"),
    dict(slug="huilongpu-party-school", title="党员学堂", kind="other", owner="community:huilongpu",
         venue="回龙埔社区党群服务中心新时代大讲堂", every="1st thursday", time="19:30", duration=90,
         policy="skip_holidays", roles=["讲师:1:lecturer", "场务:2"], contact="回龙埔社区党委"),
    dict(slug="ruizhi-clinic", title="睿智义诊服务", kind="clinic", owner="branch:ruizhi-huating",
         venue="睿智华庭小区中心广场", every="2nd saturday", time="09:00", duration=180, policy="skip_holidays",
         roles=["医生:2:doctor", "护士:2:nurse", "引导员:2"], contact="睿智华庭花园小区党支部第一书记"),
    dict(slug="zilu-430", title="四点半课堂", kind="classroom", owner="branch:zilu-garden",
         venue="紫麓花园党群活动室", every="weekday", time="16:30", duration=120, policy="workdays",
         roles=["辅导员:3:tutor", "安全员:1"], contact="紫麓花园小区党支部第一书记"),
    dict(slug="city-garden-care", title="关怀便民·城市志愿服务", kind="community", owner="branch:city-garden",
         venue="城市花园南门便民服务点", every="sunday", time="09:00", duration=180, policy="always",
         roles=["便民志愿者:4"], contact="城市花园党支部第一书记"),
    dict(slug="wanxiang-legal", title="依法信访·法律咨询", kind="legal", owner="branch:wanxiang-tiancheng",
         venue="万象天成小区物业服务中心", every="2 weeks on tuesday", time="19:00", duration=120,
         policy="skip_holidays", roles=["律师:1:lawyer", "接待员:1"], contact="万象天成花园小区党支部第一书记"),
    dict(slug="longhongge-arcade", title="巧用架空层·文娱之家", kind="culture", owner="community:longhongge",
         venue="龙红格社区架空层文娱之家", every="weekend", time="14:30", duration=180, policy="always",
         roles=["管理员:2"], contact="龙红格社区党委"),
    # 优秀党建项目
    dict(slug="yuyuan-calligraphy", title="笔墨凝香·书画班", kind="culture", owner="branch:yuyuan-xincun",
         venue="愉园新村党群活动室", every="sunday", time="15:00", duration=120, policy="skip_holidays",
         roles=["书法老师:1:calligraphy", "助教:1"], contact="愉园新村党支部第一书记"),
    dict(slug="yangguang-reading", title="亲子阅读", kind="reading", owner="branch:yangguang-tianjian",
         venue="阳光天健城党建书吧", every="saturday", time="10:00", duration=90, policy="skip_holidays",
         roles=["领读员:2:reader", "秩序员:1"], contact="阳光天健城花园党支部第一书记"),
    dict(slug="oujing-party-post", title="小区党建阵地值班", kind="community", owner="branch:oujing",
         venue="欧景花园党建阵地", every="mon,wed,fri", time="19:00", duration=120, policy="skip_holidays",
         roles=["值班员:2"], contact="欧景花园党支部第一书记"),
    dict(slug="longfu-livelihood", title="暖龙福·惠民生便民服务", kind="community", owner="branch:longfu-yicun",
         venue="龙福一村文化广场", every="1st sunday", time="09:00", duration=180, policy="always",
         roles=["便民志愿者:5", "理发师:1:barber"], contact="龙福一村党支部第一书记"),
    dict(slug="xinlian-care", title="关怀弱势群体·爱心帮扶", kind="community", owner="community:xinlian",
         venue="新联社区党群服务中心", every="3rd saturday", time="09:00", duration=180, policy="skip_holidays",
         roles=["帮扶志愿者:4"], contact="新联社区党委"),
    dict(slug="hongjin-home", title="服务他人·共建美好家园", kind="community", owner="branch:hongjin",
         venue="鸿进花园中心花园", every="4th saturday", time="09:00", duration=120, policy="skip_holidays",
         roles=["环境志愿者:4"], contact="鸿进花园党支部第一书记"),
    dict(slug="zhongyang-neighbours", title="和谐邻里·大爱社区", kind="community",
         owner="branch:zhongyang-yuecheng", venue="中央悦城小区会所", every="last sunday", time="15:00",
         duration=120, policy="always", roles=["活动志愿者:3"], contact="中央悦城花园党支部第一书记"),
    dict(slug="junyue-dance", title="舞动君悦", kind="culture", owner="branch:junyue-huating",
         venue="君悦华庭小区广场", every="tue,thu", time="19:30", duration=90, policy="always",
         roles=["领舞:1:dance"], contact="君悦华庭花园小区党支部第一书记"),
    dict(slug="xinlonggang-psychology", title="“心理健康种子师”培养活动", kind="other", owner="branch:xinlonggang",
         venue="新龙岗花园党群活动室", every="2nd sunday", time="14:30", duration=120, policy="skip_holidays",
         roles=["心理咨询师:1:counsellor", "助理:1"], contact="新龙岗花园党支部第一书记"),
    dict(slug="zilu-xinyazhou-centre", title="新亚洲党群服务中心开放日", kind="centre_opening",
         owner="community:zilu", venue="新亚洲党群服务中心", every="saturday", time="09:00", duration=180,
         policy="skip_holidays", roles=["值班员:2"], contact="紫麓社区党委"),
]


def centre_services() -> list[dict[str, object]]:
    """Each community service centre's staggered-hours opening: weekday evenings and Saturday mornings."""
    services: list[dict[str, object]] = []
    for slug, name in COMMUNITIES:
        centre = f"{name}党群服务中心"
        services.append(dict(
            slug=f"{slug}-centre-evening", title=f"{centre}错时服务（工作日晚间）", kind="centre_opening",
            owner=f"community:{slug}", venue=centre, every="weekday", time="18:00", duration=150,
            policy="workdays", roles=["值班员:2"], contact=f"{name}党委"))
        services.append(dict(
            slug=f"{slug}-centre-weekend", title=f"{centre}错时服务（周六上午）", kind="centre_opening",
            owner=f"community:{slug}", venue=centre, every="saturday", time="09:00", duration=180,
            policy="skip_holidays", roles=["值班员:2"], contact=f"{name}党委"))
    return services


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶程魏苏吕丁任卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红梅文辉斌宇浩凯鹏晨欣怡子涵雨萱思彤佳琪俊杰嘉豪"

#: (skill, share of volunteers who have it)
SKILLS: list[tuple[str, float]] = [
    ("tutor", 0.22), ("doctor", 0.06), ("nurse", 0.07), ("lawyer", 0.03), ("reader", 0.10),
    ("calligraphy", 0.03), ("dance", 0.04), ("counsellor", 0.03), ("lecturer", 0.03), ("barber", 0.02),
    ("performer", 0.08),
]

AVAILABILITY_PATTERNS = [
    "",  # any time
    "mon-fri 16:00-21:00; sat-sun 08:00-21:00",
    "sat-sun 08:00-18:00",
    "mon-fri 18:00-21:00",
    "mon-sun 08:00-12:00",
    "mon-fri 15:00-19:00",
]
